// 1,000 random and malformed payloads (fixed seed) through the real broker: the agent must not
// crash, must log each one, and must still run a valid task afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend } from '../../helpers/backend.js';
import { DeviceApi, waitFor } from '../../helpers/device-api.js';
import { startTestAgent, task } from '../../helpers/agent.js';

function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASES = [
  { taskId: 'x', taskType: 'heartbeat', createdAt: '2026-11-21T10:00:00Z', body: {} },
  { taskId: 'x', taskType: 'upgrade', createdAt: '2026-11-21T10:00:00Z', body: { releaseId: 'r', version: '1.2.3', manifestUrl: 'http://127.0.0.1:9/m.json', mode: 'install' } },
  { taskId: 'x', taskType: 'installService', createdAt: '2026-11-21T10:00:00Z', body: { serviceCode: 'svc', version: '1.0.0', bundleUrl: 'http://127.0.0.1:9/b', sha256: 'a'.repeat(64) } },
];
const WEIRD: unknown[] = [null, true, 0, -1, 1e308, '', 'x'.repeat(5000), [], {}, [[[[]]]], { $gt: '' }, '__proto__', '\u0000', '../../etc/passwd', '$(reboot)'];

/** Generates one hostile payload. Every generated taskId is unique, so none is a duplicate. */
function generate(rand: () => number, i: number): Buffer {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const base = structuredClone(pick(BASES)) as Record<string, unknown>;
  base.taskId = `fuzz-${i}`;
  switch (Math.floor(rand() * 9)) {
    case 0: // random bytes
      return Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
    case 1: { // truncated JSON
      const s = JSON.stringify(base);
      return Buffer.from(s.slice(0, Math.floor(rand() * (s.length - 1))));
    }
    case 2: // drop a field
      delete base[pick(['taskId', 'taskType', 'createdAt', 'body'])];
      return Buffer.from(JSON.stringify(base));
    case 3: // replace a field with something weird
      base[pick(['taskId', 'taskType', 'createdAt', 'body', 'expiresAt'])] = pick(WEIRD);
      return Buffer.from(JSON.stringify(base));
    case 4: { // weird body field
      const body = (base.body ?? {}) as Record<string, unknown>;
      body[pick(['manifestUrl', 'mode', 'version', 'sha256', 'serviceCode', 'extra'])] = pick(WEIRD);
      base.body = body;
      return Buffer.from(JSON.stringify(base));
    }
    case 5: // unknown task type
      base.taskType = pick(['formatDisk', 'HEARTBEAT', 'heartbeat ', 'shell', '']);
      return Buffer.from(JSON.stringify(base));
    case 6: // oversized
      base.body = { pad: 'y'.repeat(128 * 1024 + Math.floor(rand() * 1000)) };
      return Buffer.from(JSON.stringify(base));
    case 7: // deep nesting
      return Buffer.from('['.repeat(2000 + Math.floor(rand() * 5000)) + ']'.repeat(10));
    default: // extra top-level property
      base[pick(['cmd', '__proto__', 'constructor', 'x'])] = pick(WEIRD);
      return Buffer.from(JSON.stringify(base));
  }
}

const TAKEN = ['task accepted', 'task rejected: malformed message', 'task rejected: expired', 'task dropped: duplicate taskId', 'task dropped: message on a topic that is not ours'];

test('1,000 random and malformed payloads: no crash, each logged, the agent keeps working', async () => {
  const backend = await startTestBackend();
  const api = new DeviceApi(backend);
  await api.start();
  const a = await startTestAgent(api, backend.urls.mqtt);
  try {
    const rand = mulberry32(20261121);
    for (let i = 0; i < 1000; i++) await backend.broker.publish(a.topic, generate(rand, i));
    await waitFor('1,000 messages logged', () => a.records.filter((r) => TAKEN.includes(r.msg)).length >= 1000, 60_000);
    const outcomes = a.records.filter((r) => TAKEN.includes(r.msg));
    assert.equal(outcomes.length, 1000, 'exactly one log record per message');
    const rejected = outcomes.filter((r) => r.msg === 'task rejected: malformed message');
    assert.ok(rejected.length > 900, `most are malformed (${rejected.length})`);
    for (const r of rejected) assert.ok(typeof r.reason === 'string' && r.reason.length > 0 && r.reason.length < 2000, 'each says why');
    // Each rejected message with a readable taskId was reported as rejected to the backend.
    const withId = rejected.filter((r) => typeof r.taskId === 'string');
    await waitFor('rejections reported', () => withId.every((r) => api.resultsFor(r.taskId as string).some((x) => x.result.status === 'rejected')), 30_000);
    // Still alive and working.
    await backend.broker.publish(a.topic, task('after-fuzz', 'heartbeat'));
    await waitFor('valid task after the fuzz', () => api.received.heartbeats.some((h) => h.heartbeat.taskId === 'after-fuzz'), 30_000);
    console.log(`fuzz: ${rejected.length} rejected as malformed, ${outcomes.length - rejected.length} accepted or dropped, ${withId.length} reported as rejected`);
  } finally {
    await a.stop();
    await api.stop();
    await backend.cleanup();
  }
});
