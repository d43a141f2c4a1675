import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inWindow, windowOpenAt, zonedInstant } from '@twinroot/backend';

const at = (s: string) => Date.parse(s);

test('windows: Tokyo Saturday 02:00 for 3 h, seen from UTC', () => {
  const mw = { timeZone: 'Asia/Tokyo', windows: [{ day: 'sat' as const, start: '02:00', durationMinutes: 180 }] };
  // Friday 2026-12-04 17:00 UTC is Saturday 02:00 in Tokyo (UTC+9).
  assert.equal(windowOpenAt(mw, at('2026-12-04T10:00:00Z')), at('2026-12-04T17:00:00Z'));
  assert.equal(windowOpenAt(mw, at('2026-12-04T18:30:00Z')), at('2026-12-04T18:30:00Z'), 'inside: now');
  assert.ok(inWindow(mw, at('2026-12-04T19:59:59Z')));
  assert.ok(!inWindow(mw, at('2026-12-04T20:00:00Z')), 'the end is exclusive');
  assert.equal(windowOpenAt(mw, at('2026-12-04T20:00:00Z')), at('2026-12-11T17:00:00Z'), 'next week');
});

test('windows: New York across the DST change keeps local wall time', () => {
  const mw = { timeZone: 'America/New_York', windows: [{ day: 'sun' as const, start: '01:00', durationMinutes: 60 }] };
  // 2026-11-01 is the fall-back Sunday; 01:00 happens twice: the first (EDT, UTC-4) is taken.
  assert.equal(windowOpenAt(mw, at('2026-10-31T12:00:00Z')), at('2026-11-01T05:00:00Z'));
  // The next Sunday is in EST (UTC-5).
  assert.equal(windowOpenAt(mw, at('2026-11-02T00:00:00Z')), at('2026-11-08T06:00:00Z'));
  // Spring forward 2026-03-08: 01:00 EST exists (UTC-5).
  assert.equal(windowOpenAt(mw, at('2026-03-07T00:00:00Z')), at('2026-03-08T06:00:00Z'));
});

test('windows: a skipped wall time (DST gap) moves to after the jump', () => {
  // Berlin 2026-03-29 02:30 does not exist (clocks go 02:00 → 03:00).
  const t = zonedInstant(2026, 3, 29, 2, 30, 'Europe/Berlin');
  assert.ok(t === at('2026-03-29T00:30:00Z') || t === at('2026-03-29T01:30:00Z'), new Date(t).toISOString());
});

test('windows: several windows, a window crossing midnight, Kolkata half-hour offset', () => {
  const mw = {
    timeZone: 'Asia/Kolkata',
    windows: [
      { day: 'tue' as const, start: '23:30', durationMinutes: 120 },
      { day: 'thu' as const, start: '03:00', durationMinutes: 60 },
    ],
  };
  // Tue 23:30 IST = Tue 18:00 UTC; the window runs to Wed 01:30 IST.
  assert.equal(windowOpenAt(mw, at('2026-12-01T12:00:00Z')), at('2026-12-01T18:00:00Z'));
  assert.ok(inWindow(mw, at('2026-12-01T19:45:00Z')), 'Wed 01:15 IST: still inside');
  assert.equal(windowOpenAt(mw, at('2026-12-01T20:00:00Z')), at('2026-12-02T21:30:00Z'), 'then Thu 03:00 IST');
  assert.equal(windowOpenAt(undefined, 12345), 12345, 'no window: any time');
});
