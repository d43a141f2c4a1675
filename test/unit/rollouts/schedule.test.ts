import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plannedStarts, preDownloadFrom, preDownloadTimes, slipAfter } from '@twinroot/backend';

const H = 3600_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');
const customers = Array.from({ length: 100 }, (_, i) => `customer-${i}-${(i * 7919).toString(36)}`);

test('pre-download: 100 customers over 12 h — all inside the window, no two in the same minute', () => {
  const stageStart = T0 + 12 * H;
  const times = preDownloadTimes(customers, stageStart, 12, T0 - 24 * H);
  assert.equal(times.size, 100);
  const minutes = new Set<number>();
  for (const t of times.values()) {
    assert.ok(t >= stageStart - 12 * H && t < stageStart, 'inside the window');
    minutes.add(Math.floor(t / 60_000));
  }
  assert.equal(minutes.size, 100, 'one customer per minute at most');
  const sorted = [...times.values()].sort((a, b) => a - b);
  const gaps = sorted.slice(1).map((t, i) => t - sorted[i]!);
  assert.ok(Math.min(...gaps) >= 7 * 60_000 && Math.max(...gaps) <= 7.3 * 60_000, 'evenly spread (7.2 min apart)');
});

test('pre-download: deterministic, independent of input order; the order follows a hash, not the name', () => {
  const a = preDownloadTimes(customers, T0, 12, 0);
  const b = preDownloadTimes([...customers].reverse(), T0, 12, 0);
  assert.deepEqual([...a].sort(), [...b].sort());
  const byTime = [...a].sort((x, y) => x[1] - y[1]).map(([id]) => id);
  assert.notDeepEqual(byTime, [...customers].sort(), 'not alphabetical');
});

test('pre-download: a window that opened in the past is squeezed to what is left; none when the stage starts now', () => {
  const created = T0;
  const times = preDownloadTimes(customers.slice(0, 10), T0 + 2 * H, 12, created);
  for (const t of times.values()) assert.ok(t >= created && t < T0 + 2 * H);
  assert.equal(preDownloadTimes(customers, T0, 12, T0).size, 0);
  assert.equal(preDownloadFrom(T0 + 2 * H, 12, created), created);
  assert.equal(preDownloadFrom(T0 + 20 * H, 12, created), T0 + 8 * H);
});

test('planned starts: a stage timeout apart; a late start pushes the later ones back', () => {
  const p = plannedStarts(T0, 4, 60);
  assert.deepEqual(p, [T0, T0 + H, T0 + 2 * H, T0 + 3 * H]);
  const slipped = slipAfter(p, 1, T0 + 5 * H, 60);
  assert.deepEqual(slipped, [T0, T0 + H, T0 + 6 * H, T0 + 7 * H]);
  assert.deepEqual(slipAfter(p, 1, T0 + H, 60), p, 'on time: nothing moves');
});
