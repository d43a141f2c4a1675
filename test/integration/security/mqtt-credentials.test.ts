// Security review #3: an MQTT session lives only as long as the credential it was opened with.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { taskTopic } from '@twinroot/protocol';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { call, registerFleet } from '../../helpers/operator-api.js';
import { connectTestClient } from '../../helpers/crt-client.js';
import { waitFor } from '../../helpers/device-api.js';

const clock = new ManualClock();
let backend: Awaited<ReturnType<typeof startTestBackend>>;
before(async () => {
  backend = await startTestBackend({}, undefined, { clock });
});
after(async () => backend.cleanup());

test('after a token refresh the session opened with the old token is closed, the old token is refused and the new one connects', async () => {
  const fleet = await registerFleet(backend, { n: 1 });
  const a = fleet.appliances[0]!;
  const old = await connectTestClient(backend.urls.mqtt, a.applianceId, a.applianceToken);
  let interrupted = false;
  old.connection.on('interrupt', () => (interrupted = true));
  const r = await call(backend.urls.http, 'POST', `/v1/appliances/${a.applianceId}/token`, { token: a.applianceToken });
  assert.equal(r.status, 200);
  await waitFor('the old session to be closed', () => interrupted, 5000);
  // The old client keeps trying with the old token; the broker refuses it, so a task no longer reaches it.
  await backend.broker.publish(taskTopic(a.applianceId), Buffer.from('{"after":"refresh"}'));
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(old.messages.length, 0, 'the old session receives nothing after the refresh');
  await old.close().catch(() => undefined);
  await assert.rejects(connectTestClient(backend.urls.mqtt, a.applianceId, a.applianceToken));
  const fresh = await connectTestClient(backend.urls.mqtt, a.applianceId, r.body.applianceToken as string);
  await fresh.close();
});

test('an expired appliance token is refused at CONNECT', async () => {
  const fleet = await registerFleet(backend, { n: 1 });
  const a = fleet.appliances[0]!;
  const ok = await connectTestClient(backend.urls.mqtt, a.applianceId, a.applianceToken);
  await ok.close();
  clock.advance(61 * 24 * 60);
  try {
    await assert.rejects(connectTestClient(backend.urls.mqtt, a.applianceId, a.applianceToken));
  } finally {
    clock.advance(-61 * 24 * 60);
  }
});
