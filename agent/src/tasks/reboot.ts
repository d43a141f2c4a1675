import { execa } from 'execa';
import type { TaskMessageOf } from '@twinroot/protocol';
import type { Outbox } from '../outbox/outbox.js';
import type { Inbox } from '../dispatch/inbox.js';
import { TaskFailure } from '../dispatch/dispatcher.js';

/**
 * Reports the reboot as succeeded and takes it out of the inbox *before* rebooting, so the
 * agent does not reboot again after it comes back; waits briefly for the outbox to send it.
 */
export function rebootHandler(deps: { reboot: () => Promise<void>; outbox: Outbox; inbox: Inbox; sleep?: (ms: number) => Promise<void> }) {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return async (task: TaskMessageOf<'reboot'>) => {
    if (task.body.delaySeconds) await sleep(task.body.delaySeconds * 1000);
    deps.outbox.add(task.taskId, { status: 'succeeded', detail: { action: 'reboot issued' } });
    deps.inbox.done(task.taskId);
    await deps.outbox.drained(5000);
    await deps.reboot();
    return { reported: true };
  };
}

/** Reboots with the configured command (argument array); a failure is a TaskFailure. */
export function commandReboot(command: string[]): () => Promise<void> {
  return async () => {
    const [file, ...args] = command as [string, ...string[]];
    const r = await execa(file, args, { reject: false, timeout: 60_000, all: true });
    if (r.exitCode !== 0) throw new TaskFailure('reboot_failed', `${command.join(' ')} exited ${r.exitCode ?? r.signal}: ${(r.all ?? '').slice(0, 500)}`);
  };
}
