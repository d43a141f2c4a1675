import { WEEKDAYS, type MaintenanceWindow } from '@twinroot/protocol';

const DAY = 86400_000;

/** Wall-clock fields of an instant in a time zone. */
function wallClock(t: number, timeZone: string): { y: number; m: number; d: number; h: number; mi: number; s: number } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return { y: get('year'), m: get('month'), d: get('day'), h: get('hour'), mi: get('minute'), s: get('second') };
}

/** The UTC offset of a time zone at an instant, in ms (east positive). */
function offsetAt(t: number, timeZone: string): number {
  const w = wallClock(t, timeZone);
  return Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s) - Math.floor(t / 1000) * 1000;
}

/**
 * The instant a local wall-clock time happens in a time zone. A time skipped by a DST jump is
 * taken as the same clock time after the jump (i.e. shifted by the jump); an ambiguous one as
 * its first occurrence.
 */
export function zonedInstant(y: number, m: number, d: number, h: number, mi: number, timeZone: string): number {
  const asUtc = Date.UTC(y, m - 1, d, h, mi);
  const first = asUtc - offsetAt(asUtc, timeZone);
  const second = asUtc - offsetAt(first, timeZone);
  return Math.min(first, second);
}

/** The windows (start and end instants) that overlap the days around `t`. */
function windowsAround(mw: MaintenanceWindow, t: number): [number, number][] {
  const out: [number, number][] = [];
  for (let dayOffset = -2; dayOffset <= 8; dayOffset++) {
    const w = wallClock(t + dayOffset * DAY, mw.timeZone);
    const weekday = WEEKDAYS[(new Date(Date.UTC(w.y, w.m - 1, w.d)).getUTCDay() + 6) % 7];
    for (const win of mw.windows) {
      if (win.day !== weekday) continue;
      const [h = 0, mi = 0] = win.start.split(':').map(Number);
      const start = zonedInstant(w.y, w.m, w.d, h, mi, mw.timeZone);
      out.push([start, start + win.durationMinutes * 60_000]);
    }
  }
  return out;
}

/** Whether `t` is inside one of the customer's weekly maintenance windows. */
export function inWindow(mw: MaintenanceWindow, t: number): boolean {
  return windowsAround(mw, t).some(([s, e]) => s <= t && t < e);
}

/**
 * The earliest instant at or after `t` inside a maintenance window: `t` itself when a window
 * is open, else the next window's start. No window (undefined) means any time.
 */
export function windowOpenAt(mw: MaintenanceWindow | undefined, t: number): number {
  if (!mw) return t;
  const wins = windowsAround(mw, t);
  if (wins.some(([s, e]) => s <= t && t < e)) return t;
  const next = wins.filter(([s]) => s > t).sort((a, b) => a[0] - b[0])[0];
  if (!next) throw new Error('maintenance window: no window within a week (empty schedule?)');
  return next[0];
}
