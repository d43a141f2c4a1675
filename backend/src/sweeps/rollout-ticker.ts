import type { RolloutService } from '../services/rollouts.js';

interface Logger {
  error(o: object, msg?: string): void;
}

/**
 * Advances running rollouts every few seconds, between the five-minute sweeps, so a stage that
 * has finished starts the next one without waiting for the sweep. No lease: a pass claims each
 * send with a conditional write and writes the rollout conditionally, so passes of several
 * instances (or of this ticker and the sweep) cannot send anything twice.
 */
export class RolloutTicker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly rollouts: Pick<RolloutService, 'sweep'>,
    private readonly log: Logger,
  ) {}

  start(periodSeconds: number): void {
    if (periodSeconds <= 0) return;
    this.timer = setInterval(() => {
      if (this.running) return; // the previous pass is still at work
      this.running = this.rollouts
        .sweep()
        .catch((err: Error) => this.log.error({ err: err.message }, 'rollout pass failed; the next tick retries'))
        .finally(() => (this.running = null));
    }, periodSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
