import type { Clock } from '@twinroot/backend';

/** A clock tests move by hand (the backend's sweeps and expiry checks read it). */
export class ManualClock implements Clock {
  constructor(private ms = Date.parse('2026-11-02T10:00:00.000Z')) {}
  now(): number {
    return this.ms;
  }
  advance(minutes: number): void {
    this.ms += minutes * 60_000;
  }
}
