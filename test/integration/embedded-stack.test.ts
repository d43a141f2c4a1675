import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { taskTopic } from '@twinroot/protocol';
import { hashApplianceToken, newApplianceToken, TABLES } from '@twinroot/backend';
import { startTestBackend } from '../helpers/backend.js';
import { connectTestClient } from '../helpers/crt-client.js';

let backend: Awaited<ReturnType<typeof startTestBackend>>;
const applianceId = randomUUID();
const token = newApplianceToken(applianceId);

before(async () => {
  backend = await startTestBackend();
});
after(async () => {
  await backend.cleanup();
});

test('GET /healthz reports store and broker up', async () => {
  // The details (table count, broker mode) are for the operator; anyone else sees up/down only.
  const res = await fetch(`${backend.urls.http}/healthz`, { headers: { authorization: `Bearer ${backend.operatorKey}` } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { status: string; store: { status: string; tables: number }; broker: { status: string; mode: string } };
  assert.equal(body.status, 'ok');
  assert.equal(body.store.status, 'up');
  assert.equal(body.store.tables, Object.keys(TABLES).length, 'the migration created every table');
  assert.equal(body.broker.status, 'up');
  assert.equal(body.broker.mode, 'embedded');
});

test('an item written through @aws-sdk/client-dynamodb reads back from the embedded store', async () => {
  await backend.store.raw.send(
    new PutItemCommand({
      TableName: backend.tables.appliances,
      Item: { applianceId: { S: applianceId }, tokenHash: { S: hashApplianceToken(token) }, tokenExpiresAt: { S: new Date(Date.now() + 86400_000).toISOString() }, customerId: { S: 'cust-1' }, memoryMb: { N: '8192' } },
      ConditionExpression: 'attribute_not_exists(applianceId)',
    }),
  );
  const out = await backend.store.raw.send(new GetItemCommand({ TableName: backend.tables.appliances, Key: { applianceId: { S: applianceId } }, ConsistentRead: true }));
  assert.equal(out.Item?.customerId?.S, 'cust-1');
  assert.equal(out.Item?.memoryMb?.N, '8192');
  // The conditional write refuses a second create of the same appliance.
  await assert.rejects(
    backend.store.raw.send(new PutItemCommand({ TableName: backend.tables.appliances, Item: { applianceId: { S: applianceId } }, ConditionExpression: 'attribute_not_exists(applianceId)' })),
    { name: 'ConditionalCheckFailedException' },
  );
});

test('a QoS 1 task round-trips through the broker to an aws-crt MQTT 3.1.1 client', async () => {
  const client = await connectTestClient(backend.urls.mqtt, applianceId, token);
  try {
    await client.connection.subscribe(taskTopic(applianceId), 1);
    const payload = JSON.stringify({ taskId: 't-1', taskType: 'heartbeat', createdAt: new Date().toISOString(), body: {} });
    await backend.broker.publish(taskTopic(applianceId), Buffer.from(payload));
    await client.waitForMessages(1);
    assert.deepEqual(client.messages[0], { topic: taskTopic(applianceId), payload });
    assert.equal(backend.broker.status().clients, 1);
  } finally {
    await client.close();
  }
});

test('a QoS 1 task published while the persistent session is offline arrives on reconnect', async () => {
  const first = await connectTestClient(backend.urls.mqtt, applianceId, token);
  await first.connection.subscribe(taskTopic(applianceId), 1);
  await first.close();
  const payload = JSON.stringify({ taskId: 't-offline', taskType: 'reboot', createdAt: new Date().toISOString(), body: {} });
  await backend.broker.publish(taskTopic(applianceId), Buffer.from(payload));
  const second = await connectTestClient(backend.urls.mqtt, applianceId, token);
  try {
    await second.waitForMessages(1);
    assert.equal(second.messages[0]?.payload, payload);
  } finally {
    await second.close();
  }
});

test('the broker refuses a wrong token and another appliance\'s topic', async () => {
  await assert.rejects(connectTestClient(backend.urls.mqtt, applianceId, 'not-the-token-' + 'x'.repeat(30)));
  const client = await connectTestClient(backend.urls.mqtt, applianceId, token);
  try {
    const other = taskTopic(randomUUID());
    const res = await Promise.race([
      client.connection.subscribe(other, 1).then(
        (r) => r,
        (e: unknown) => e,
      ),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no SUBACK within 5 s')), 5000)),
    ]);
    // aedes answers a refused subscription with SUBACK 0x80, which the CRT reports as a failure (qos 128) or an error.
    const refused = res instanceof Error || (typeof res === 'object' && res !== null && ((res as { qos?: number; error_code?: number }).qos === 128 || Boolean((res as { error_code?: number }).error_code)));
    assert.ok(refused, `subscription to another appliance's topic must be refused, got ${JSON.stringify(res)}`);
    await backend.broker.publish(other, Buffer.from('{"secret":true}'));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(client.messages.length, 0);
  } finally {
    await client.close();
  }
});
