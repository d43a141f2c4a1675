// The fleet summary is kept by counters on the write path: registrations, heartbeats that change
// a version, the presence sweep, an upgrade, a decommission each move the counts, and reading
// the summary scans nothing. A store whose counters were never kept is counted once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { call, heartbeatBody, registerFleet } from '../../helpers/operator-api.js';

test('the fleet summary follows every appliance write and is read without a scan', async () => {
  const clock = new ManualClock(Date.now());
  const b = await startTestBackend({}, undefined, { clock });
  try {
    const op = (m: string, p: string, json?: unknown) => call(b.urls.http, m, p, { token: b.operatorKey, json });
    const summary = async (q = '') => (await op('GET', `/v1/fleet/summary${q}`)).body as { appliances: number; byStatus: Record<string, number>; byVersion: { version: string; count: number }[]; byRegion: { region: string; count: number }[] };
    const eu = await registerFleet(b, { name: 'Counted EU', region: 'eu-west-1', n: 4, version: '1.0.0' });
    const us = await registerFleet(b, { name: 'Counted US', region: 'us-east-1', n: 2, version: '1.0.0' });
    const scans = () => b.metrics.dynamoCommands.ScanCommand ?? 0;
    const before = scans();
    assert.equal((await summary()).appliances, 6);
    assert.equal(scans(), before, 'no scan to summarize');

    // A heartbeat from a new version moves one appliance between versions, everywhere it counts.
    const a0 = eu.appliances[0]!;
    await call(b.urls.http, 'POST', `/v1/appliances/${a0.applianceId}/heartbeat`, { token: a0.applianceToken, json: heartbeatBody({ version: '2.0.0' }) });
    assert.deepEqual((await summary()).byVersion, [{ version: '2.0.0', count: 1 }, { version: '1.0.0', count: 5 }]);
    assert.deepEqual((await summary(`?customerId=${eu.customerId}`)).byVersion, [{ version: '2.0.0', count: 1 }, { version: '1.0.0', count: 3 }]);
    assert.deepEqual((await summary('?region=us-east-1')).byVersion, [{ version: '1.0.0', count: 2 }]);

    // The presence sweep: silent appliances become disconnected (the ones that answer stay).
    clock.advance(16);
    for (const a of [...eu.appliances.slice(1), ...us.appliances]) await call(b.urls.http, 'POST', `/v1/appliances/${a.applianceId}/heartbeat`, { token: a.applianceToken, json: heartbeatBody() });
    await b.sweeps.run('presence');
    assert.deepEqual((await summary()).byStatus, { connected: 5, disconnected: 1, upgrading: 0, rolled_back: 0 });

    // A decommission takes the appliance out of every scope.
    assert.equal((await op('DELETE', `/v1/appliances/${us.appliances[0]!.applianceId}`)).status, 204);
    const s = await summary();
    assert.equal(s.appliances, 5);
    assert.deepEqual(s.byRegion, [{ region: 'eu-west-1', count: 4 }, { region: 'us-east-1', count: 1 }]);
    assert.equal((await summary('?region=us-east-1')).appliances, 1);
    assert.equal(scans(), before, 'still no scan');

    // Counters never kept (an older version's store, or deleted to recount): counted once from a scan.
    await b.data.doc.send(new DeleteCommand({ TableName: b.tables.counters, Key: { scope: 'all' } }));
    assert.deepEqual(await summary(), s);
    assert.ok(scans() > before, 'the recount scanned');
    const after = scans();
    await summary();
    assert.equal(scans(), after, 'once');
  } finally {
    await b.cleanup();
  }
});
