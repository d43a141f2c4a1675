// The same backend pointed at an external DynamoDB-API endpoint and an external MQTT broker
// (Debian's mosquitto), instead of its embedded ones.
import { TABLES } from '@twinroot/backend';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestBackend } from '../helpers/backend.js';
import { connectTestClient } from '../helpers/crt-client.js';
import { freePort } from '../helpers/sockets.js';

test('a backend using another process\'s DynamoDB endpoint shares its tables', async () => {
  const first = await startTestBackend();
  const second = await startTestBackend({ TWINROOT_DYNAMODB_ENDPOINT: first.urls.dynamodb });
  try {
    assert.equal(second.urls.dynamodb, first.urls.dynamodb);
    const res = await fetch(`${second.urls.http}/healthz`, { headers: { authorization: `Bearer ${second.operatorKey}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { store: { tables: number } }).store.tables, Object.keys(TABLES).length);
  } finally {
    await second.cleanup();
    await first.cleanup();
  }
});

test('a backend publishes QoS 1 through an external mosquitto broker', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-mosq-'));
  const port = await freePort();
  writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const mosq = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  const spawned = await new Promise<boolean>((resolve) => {
    mosq.once('error', () => resolve(false));
    mosq.once('spawn', () => resolve(true));
  });
  if (!spawned) {
    rmSync(dir, { recursive: true, force: true });
    assert.fail('mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)');
  }
  t.after(() => {
    mosq.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise((r) => setTimeout(r, 500));
  const backend = await startTestBackend({ TWINROOT_MQTT_URL: `mqtt://127.0.0.1:${port}` });
  try {
    const health = (await (await fetch(`${backend.urls.http}/healthz`, { headers: { authorization: `Bearer ${backend.operatorKey}` } })).json()) as { broker: { status: string; mode: string } };
    assert.deepEqual([health.broker.status, health.broker.mode], ['up', 'external']);
    const client = await connectTestClient(`mqtt://127.0.0.1:${port}`, 'appliance-ext-1', 'unused');
    try {
      await client.connection.subscribe('twinroot/appliances/appliance-ext-1/tasks', 1);
      await backend.broker.publish('twinroot/appliances/appliance-ext-1/tasks', Buffer.from('{"hello":1}'));
      await client.waitForMessages(1);
      assert.equal(client.messages[0]?.payload, '{"hello":1}');
    } finally {
      await client.close();
    }
  } finally {
    await backend.cleanup();
  }
});
