// A task the backend publishes before the appliance's agent has ever subscribed (a rollout that
// starts right after registration) reaches no one: the broker keeps messages only for existing
// sessions. The agent says so in a heartbeat after subscribing on a new session, and the backend
// sends the still-unaccepted task again at once instead of after the retry policy's delay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirSlotDriver, register, startAgent } from '@twinroot/agent';
import { startTestBackend } from '../helpers/backend.js';
import { captureLogger, makeDirSlots, testAgentConfig } from '../helpers/agent.js';
import { waitFor } from '../helpers/device-api.js';
import { call } from '../helpers/operator-api.js';

test('a task sent before the first subscription is resent when the agent reports its new MQTT session', async () => {
  const backend = await startTestBackend();
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-fresh-session-'));
  const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  try {
    const c = await op('POST', '/v1/customers', { name: 'Early Bird', region: 'eu-west-1' });
    const t = await op('POST', `/v1/customers/${c.body.customerId}/register-tokens`, {});
    makeDirSlots(join(dir, 'slots'), '1.0.0');
    const { applianceId } = await register({ backendUrl: backend.urls.http, registerToken: t.body.registerToken as string, stateDir: join(dir, 'state'), slots: new DirSlotDriver(join(dir, 'slots')) });

    // Registered, not yet connected: the task is published to nobody.
    const sent = await op('POST', `/v1/appliances/${applianceId}/collect-logs`);
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const taskId = sent.body.taskId as string;
    assert.equal((await backend.data.tasks.get(taskId))?.status, 'sent');

    const logger = captureLogger();
    agent = await startAgent(testAgentConfig(dir), logger.log, {});
    await agent.connected;
    let status: string | undefined;
    await waitFor('the task resent and done', () => {
      void backend.data.tasks.get(taskId).then((x) => (status = x?.status));
      return status === 'succeeded';
    }, 20_000);
    const task = await backend.data.tasks.get(taskId);
    assert.equal(task!.attempts, 2, 'one resend');
    assert.ok(task!.events.some((e) => e.status === 'resent'), JSON.stringify(task!.events));
    assert.ok(logger.records.some((r) => r.msg === 'mqtt: connected and subscribed' && r.sessionPresent === false), 'the agent saw a new session');

    // A reconnect on the kept session (agent restart) is not a new session: nothing is resent.
    await agent.stop();
    agent = await startAgent(testAgentConfig(dir), logger.log, {});
    await agent.connected;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await backend.data.tasks.get(taskId))!.attempts, 2);
  } finally {
    await agent?.stop();
    await backend.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
