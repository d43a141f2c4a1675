// A rolloutTargets table made before the byStageDue index (by an older backend, on dynalite,
// which cannot add an index to a table): the migration step starts anyway, and the store says
// "no due index" so rollout passes read whole stages, as before — nothing refused, nothing lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { createStoreClients } from '../../../backend/src/store/client.js';
import { startEmbeddedDynamo } from '../../../backend/src/store/embedded-dynamodb.js';
import { Store } from '../../../backend/src/store/store.js';
import { ensureTables, tableNames } from '../../../backend/src/store/tables.js';

test('a targets table from before byStageDue: the migration starts, due reads answer "no index" and passes read whole stages', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-oldtable-'));
  const dynamo = await startEmbeddedDynamo({ dir: join(dir, 'db'), socketPath: join(dir, 'd.sock'), port: 0 });
  const { raw, doc } = createStoreClients({ endpoint: dynamo.endpoint, region: 'eu-west-1' });
  try {
    const names = tableNames('old-');
    // The table as 0.1 made it: byStage only.
    await raw.send(
      new CreateTableCommand({
        TableName: names.rolloutTargets,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'targetId', KeyType: 'HASH' }],
        AttributeDefinitions: ['targetId', 'stageKey', 'applianceId'].map((a) => ({ AttributeName: a, AttributeType: 'S' })),
        GlobalSecondaryIndexes: [{ IndexName: 'byStage', KeySchema: [{ AttributeName: 'stageKey', KeyType: 'HASH' }, { AttributeName: 'applianceId', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } }],
      }),
    );
    const created = await ensureTables(raw, names);
    assert.ok(!created.includes(names.rolloutTargets));
    const store = new Store(doc, names);
    await store.targets.create({ targetId: 'r#a', rolloutId: 'r', stageKey: 'r#0000', stageIndex: 0, applianceId: 'a', customerId: 'c', state: 'pending', dueAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', rev: 0 });
    assert.equal(await store.dueTargetsOfStage('r#0000', '2026-12-01T00:00:00.000Z'), null, 'no index: the caller reads the stage whole');
    assert.equal(store.targetDueIndex, false);
    assert.deepEqual((await store.targetsOfStage('r#0000')).map((t) => t.targetId), ['r#a']);
    // A new table has it, and answers.
    const fresh = tableNames('new-');
    await ensureTables(raw, fresh);
    const s2 = new Store(doc, fresh);
    await s2.targets.create({ targetId: 'r#b', rolloutId: 'r', stageKey: 'r#0000', stageIndex: 0, applianceId: 'b', customerId: 'c', state: 'pending', dueAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', rev: 0 });
    await s2.targets.create({ targetId: 'r#c', rolloutId: 'r', stageKey: 'r#0000', stageIndex: 0, applianceId: 'c', customerId: 'c', state: 'pending', updatedAt: '2026-01-01T00:00:00.000Z', rev: 0 });
    assert.deepEqual((await s2.dueTargetsOfStage('r#0000', '2026-12-01T00:00:00.000Z'))?.map((t) => t.targetId), ['r#b'], 'only the target with a due time');
  } finally {
    raw.destroy();
    await dynamo.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
