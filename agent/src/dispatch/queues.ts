import type { TaskType } from '@twinroot/protocol';

export type QueueName = 'system' | 'heartbeat' | 'services' | 'diagnostics';

/**
 * Which queue runs each taskType. Tasks in one queue run one at a time; queues run side by side.
 * Upgrade, rollback and reboot change what boots, so they never overlap; a heartbeat never
 * waits behind an upgrade.
 */
export const QUEUE_OF: Record<TaskType, QueueName> = {
  upgrade: 'system',
  rollback: 'system',
  reboot: 'system',
  heartbeat: 'heartbeat',
  installService: 'services',
  uninstallService: 'services',
  collectLogs: 'diagnostics',
};

/** Runs jobs one after another; a failing job does not stop the ones behind it. */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private running = 0;
  private waiting = 0;

  push(job: () => Promise<void>): Promise<void> {
    this.waiting += 1;
    const run = this.tail.then(async () => {
      this.waiting -= 1;
      this.running += 1;
      try {
        await job();
      } finally {
        this.running -= 1;
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  get busy(): boolean {
    return this.running + this.waiting > 0;
  }

  /** Resolves when everything pushed so far has finished. */
  idle(): Promise<void> {
    return this.tail;
  }
}
