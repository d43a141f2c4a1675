import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeTaskMessage, MAX_TASK_MESSAGE_BYTES, TASK_TYPES, TaskMessage, compile } from '@twinroot/protocol';
import { validTasks, now } from '../../helpers/examples.js';

const enc = (v: unknown) => Buffer.from(JSON.stringify(v));
const up = validTasks[1]!;

test('every taskType has a valid example that decodes', () => {
  assert.deepEqual(new Set(validTasks.map((t) => t.taskType)), new Set(TASK_TYPES));
  for (const t of validTasks) {
    const r = decodeTaskMessage(enc(t));
    assert.ok(r.ok, `${t.taskId}: ${r.ok ? '' : r.reason}`);
    assert.deepEqual(r.task, t);
  }
});

test('the union schema accepts the same examples (used for docs and the publisher)', () => {
  const v = compile(TaskMessage);
  for (const t of validTasks) assert.ok(v(t).ok, t.taskId);
});

const invalid: [string, unknown, RegExp][] = [
  ['missing taskId', { taskType: 'heartbeat', createdAt: now, body: {} }, /taskId/],
  ['missing body', { taskId: 'x1', taskType: 'heartbeat', createdAt: now }, /body/],
  ['missing createdAt', { taskId: 'x1', taskType: 'heartbeat', body: {} }, /createdAt/],
  ['taskId a number', { taskId: 42, taskType: 'heartbeat', createdAt: now, body: {} }, /taskId/],
  ['taskId with a slash', { taskId: 'a/b', taskType: 'heartbeat', createdAt: now, body: {} }, /taskId/],
  ['taskId huge', { taskId: 'a'.repeat(10_000), taskType: 'heartbeat', createdAt: now, body: {} }, /taskId/],
  ['createdAt not a date', { taskId: 'x1', taskType: 'heartbeat', createdAt: 'yesterday', body: {} }, /createdAt/],
  ['extra envelope property', { taskId: 'x1', taskType: 'heartbeat', createdAt: now, body: {}, shell: 'rm -rf /' }, /unknown property "shell"/],
  ['body an array', { taskId: 'x1', taskType: 'heartbeat', createdAt: now, body: [] }, /body/],
  ['heartbeat body with extra', { taskId: 'x1', taskType: 'heartbeat', createdAt: now, body: { x: 1 } }, /body: unknown property "x"/],
  ['upgrade without manifestUrl', { ...up, body: { ...up.body, manifestUrl: undefined } }, /manifestUrl/],
  ['upgrade with file: URL', { ...up, body: { ...up.body, manifestUrl: 'file:///etc/shadow' } }, /manifestUrl/],
  ['upgrade with bad mode', { ...up, body: { ...up.body, mode: 'yolo' } }, /mode/],
  ['upgrade with bad version', { ...up, body: { ...up.body, version: 'v2' } }, /version/],
  ['upgrade with huge url', { ...up, body: { ...up.body, manifestUrl: 'https://x.example/' + 'a'.repeat(5000) } }, /manifestUrl/],
  ['upgrade allowDowngrade a string', { ...up, body: { ...up.body, allowDowngrade: 'yes' } }, /allowDowngrade/],
  ['collectLogs without uploadUrl', { taskId: 'x1', taskType: 'collectLogs', createdAt: now, body: {} }, /uploadUrl/],
  ['installService bad sha', { taskId: 'x1', taskType: 'installService', createdAt: now, body: { serviceCode: 'a', version: '1.0.0', bundleUrl: 'https://a.example/b', sha256: 'zz' } }, /sha256/],
  ['installService code with shell chars', { taskId: 'x1', taskType: 'installService', createdAt: now, body: { serviceCode: 'a;reboot', version: '1.0.0', bundleUrl: 'https://a.example/b', sha256: 'a'.repeat(64) } }, /serviceCode/],
  ['reboot delay negative', { taskId: 'x1', taskType: 'reboot', createdAt: now, body: { delaySeconds: -1 } }, /delaySeconds/],
  ['a JSON array', [1, 2, 3], /root/],
  ['JSON null', null, /root/],
];

for (const [name, msg, re] of invalid) {
  test(`rejects: ${name}`, () => {
    const r = decodeTaskMessage(enc(msg));
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, re);
  });
}

test('rejects an unknown taskType and still reports its taskId', () => {
  const r = decodeTaskMessage(enc({ taskId: 'x9', taskType: 'formatDisk', createdAt: now, body: {} }));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.code, 'unknown_task_type');
    assert.equal(r.taskId, 'x9');
  }
});

test('rejects non-JSON and invalid UTF-8 without a taskId', () => {
  for (const raw of [Buffer.from('{"taskId":'), Buffer.from([0xff, 0xfe, 0x7b]), Buffer.alloc(0)]) {
    const r = decodeTaskMessage(raw);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.code, 'not_json');
      assert.equal(r.taskId, undefined);
    }
  }
});

test('rejects a message over 128 KiB before parsing it', () => {
  const big = Buffer.alloc(MAX_TASK_MESSAGE_BYTES + 1, 0x20);
  const r = decodeTaskMessage(big);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.code, 'too_large');
  // exactly at the limit is not "too large" (it is just not JSON here)
  const atLimit = decodeTaskMessage(Buffer.alloc(MAX_TASK_MESSAGE_BYTES, 0x20));
  assert.ok(!atLimit.ok && atLimit.code === 'not_json');
});

test('an invalid message with a readable taskId carries it for a rejected report', () => {
  const r = decodeTaskMessage(enc({ taskId: 'keep-me', taskType: 'upgrade', createdAt: now, body: {} }));
  assert.ok(!r.ok && r.taskId === 'keep-me' && r.code === 'invalid');
});
