// The dispatcher alone: real files in a temp state dir, no broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { taskTopic, type TaskResult } from '@twinroot/protocol';
import { Dispatcher, Inbox, Outbox, QUEUE_OF, SeenTasks, SerialQueue, TaskFailure, nextDelayMs, type Handlers } from '@twinroot/agent';
import { task } from '../../helpers/agent.js';

const silent = pino({ level: 'silent' });
const topic = taskTopic('appliance-1');

function setup(handlers: Handlers = {}, now?: () => Date) {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-disp-'));
  const sent: { taskId: string; result: TaskResult }[] = [];
  const outbox = new Outbox(dir, async (e) => {
    sent.push(e);
    return 'delivered';
  }, silent);
  const seen = new SeenTasks({ stateDir: dir, ttlMs: 3600_000, max: 1000 });
  const inbox = new Inbox(dir);
  const d = new Dispatcher({ topic, seen, inbox, outbox, handlers, log: silent, progressIntervalMs: 0, ...(now ? { now } : {}) });
  return { dir, d, outbox, inbox, seen, statuses: (id: string) => outbox.pending().filter((e) => e.taskId === id).map((e) => e.result.status), sent };
}

test('QUEUE_OF: upgrade, rollback and reboot share one queue; heartbeat has its own', () => {
  assert.equal(QUEUE_OF.upgrade, QUEUE_OF.rollback);
  assert.equal(QUEUE_OF.upgrade, QUEUE_OF.reboot);
  assert.notEqual(QUEUE_OF.heartbeat, QUEUE_OF.upgrade);
  assert.notEqual(QUEUE_OF.collectLogs, QUEUE_OF.upgrade);
});

test('SerialQueue runs jobs one at a time and keeps going after a failure', async () => {
  const q = new SerialQueue();
  const order: string[] = [];
  let active = 0;
  const job = (name: string, fail = false) => async () => {
    active += 1;
    assert.equal(active, 1);
    await new Promise((r) => setTimeout(r, 5));
    order.push(name);
    active -= 1;
    if (fail) throw new Error('boom');
  };
  const p = [q.push(job('a')), q.push(job('b', true)).catch(() => 'failed'), q.push(job('c'))];
  await Promise.all(p);
  assert.deepEqual(order, ['a', 'b', 'c']);
  assert.equal(q.busy, false);
});

test('a message is persisted (inbox, seen, accepted) before handleMessage returns', () => {
  const s = setup({ heartbeat: () => new Promise(() => undefined) });
  assert.equal(s.d.handleMessage(topic, task('t1', 'heartbeat')), 'queued');
  assert.equal(s.inbox.list().length, 1);
  assert.equal(s.seen.has('t1'), true);
  assert.deepEqual(s.statuses('t1'), ['accepted']);
  // a fresh SeenTasks over the same dir knows it (persisted)
  assert.equal(new SeenTasks({ stateDir: s.dir, ttlMs: 3600_000, max: 1000 }).has('t1'), true);
});

test('outcomes: duplicate, expired, wrong topic, invalid', () => {
  const fixed = new Date('2026-11-21T12:00:00Z');
  const s = setup({ heartbeat: async () => undefined }, () => fixed);
  assert.equal(s.d.handleMessage(topic, task('t1', 'heartbeat')), 'queued');
  assert.equal(s.d.handleMessage(topic, task('t1', 'heartbeat')), 'duplicate');
  assert.equal(s.d.handleMessage(topic, task('t2', 'heartbeat', {}, { expiresAt: '2026-11-21T11:59:59Z' })), 'expired');
  assert.equal(s.d.handleMessage(topic, task('t3', 'heartbeat', {}, { expiresAt: '2026-11-21T12:00:01Z' })), 'queued');
  assert.equal(s.d.handleMessage(taskTopic('someone-else'), task('t4', 'heartbeat')), 'wrong_topic');
  assert.equal(s.d.handleMessage(topic, Buffer.from('{nope')), 'invalid');
  assert.equal(s.d.handleMessage(topic, task('t5', 'nuke')), 'invalid');
  assert.deepEqual(s.statuses('t5'), ['rejected']);
  // a redelivered bad message is not reported twice
  assert.equal(s.d.handleMessage(topic, task('t5', 'nuke')), 'invalid');
  assert.deepEqual(s.statuses('t5'), ['rejected']);
});

test('a handler failure is reported with its code; a throw of anything else is internal_error', async () => {
  const s = setup({
    collectLogs: async () => {
      throw new TaskFailure('upload_failed', 'HTTP 403');
    },
    reboot: async () => {
      throw new Error('surprise');
    },
  });
  s.d.handleMessage(topic, task('c1', 'collectLogs', { uploadUrl: 'http://127.0.0.1:9/u' }));
  s.d.handleMessage(topic, task('r1', 'reboot'));
  const until = Date.now() + 5000;
  while (s.d.busy && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  const last = (id: string) => s.outbox.pending().filter((e) => e.taskId === id).at(-1)!.result;
  assert.deepEqual(last('c1'), { ...last('c1'), status: 'failed', error: { code: 'upload_failed', message: 'HTTP 403' } });
  assert.equal(last('r1').status === 'failed' && last('r1').status === 'failed' && (last('r1') as { error: { code: string } }).error.code, 'internal_error');
  assert.equal(s.inbox.list().length, 0, 'finished tasks leave the inbox');
});

test('a task parked by stop() stays in the inbox and resumes after a restart', async () => {
  const s = setup({
    upgrade: (_t, ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('parked')))),
  });
  s.d.handleMessage(topic, task('u1', 'upgrade', { releaseId: 'r', version: '2.0.0', manifestUrl: 'http://127.0.0.1:9/m', mode: 'install' }));
  await new Promise((r) => setTimeout(r, 20));
  await s.d.stop(1000);
  assert.equal(s.inbox.list().length, 1, 'still in the inbox');
  assert.equal(s.statuses('u1').includes('failed'), false, 'parked, not failed');
  let resumed = 0;
  const d2 = new Dispatcher({ topic, seen: s.seen, inbox: s.inbox, outbox: s.outbox, handlers: { upgrade: async () => void (resumed += 1) }, log: silent });
  assert.equal(d2.resumeInbox(), 1);
  const until = Date.now() + 2000;
  while (resumed === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.equal(resumed, 1);
});

test('progress reports go to the outbox as running with the progress', async () => {
  const s = setup({
    installService: async (_t, ctx) => {
      ctx.progress({ phase: 'download', bytes: 10, totalBytes: 100 });
    },
  });
  s.d.handleMessage(topic, task('p1', 'installService', { serviceCode: 'a', version: '1.0.0', bundleUrl: 'http://127.0.0.1:9/b', sha256: 'a'.repeat(64) }));
  const until = Date.now() + 2000;
  while (s.d.busy && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  const running = s.outbox.pending().filter((e) => e.taskId === 'p1' && e.result.status === 'running');
  assert.ok(running.some((e) => e.result.progress?.bytes === 10));
});

test('backoff: grows exponentially, capped, jittered, never zero', () => {
  assert.equal(nextDelayMs(0, 1000, 60_000, () => 1), 1000);
  assert.equal(nextDelayMs(3, 1000, 60_000, () => 1), 8000);
  assert.equal(nextDelayMs(30, 1000, 60_000, () => 1), 60_000);
  assert.equal(nextDelayMs(5, 1000, 60_000, () => 0), 100);
});
