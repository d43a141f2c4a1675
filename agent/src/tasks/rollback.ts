import type { TaskMessageOf } from '@twinroot/protocol';
import type { Outbox } from '../outbox/outbox.js';
import type { Inbox } from '../dispatch/inbox.js';
import type { SlotDriver } from '../slots/driver.js';
import { TaskFailure } from '../dispatch/dispatcher.js';

/**
 * Makes the other slot the default. With `reboot`, the result is reported and the task taken
 * out of the inbox before rebooting, so it does not run again after the reboot.
 */
export function rollbackHandler(deps: { driver: SlotDriver; outbox: Outbox; inbox: Inbox; reboot: () => Promise<void> }) {
  return async (task: TaskMessageOf<'rollback'>) => {
    let slot: string;
    try {
      slot = await deps.driver.rollback();
    } catch (err) {
      throw new TaskFailure('rollback_failed', (err as Error).message);
    }
    if (!task.body.reboot) return { detail: { committedSlot: slot, reboot: false } };
    deps.outbox.add(task.taskId, { status: 'succeeded', detail: { committedSlot: slot, reboot: true } });
    deps.inbox.done(task.taskId);
    await deps.outbox.drained(5000);
    await deps.reboot();
    return { reported: true };
  };
}
