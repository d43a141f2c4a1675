import type { SlotDriver } from '../../slots/driver.js';
import type { Logger } from './step.js';
import { targetSlot, type Step, type StepResult } from './step.js';

/**
 * Makes the committed slot the default again. If the command fails the trial is still not
 * committed, so the reboot that follows returns to the committed slot anyway.
 */
export async function rollBackTrial(driver: SlotDriver, log: Logger): Promise<string> {
  const committed = (await driver.status()).committedSlot;
  try {
    return await driver.rollback();
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'boot: rollback command failed; rebooting into the committed slot');
    return committed;
  }
}

/**
 * rolling_back → rolled_back. The reboot back to the committed slot is the caller's, after the
 * task's result is queued: the result must survive it.
 */
export const rollingBack: Step = async (ctx): Promise<StepResult> => {
  const rolledBackTo = await rollBackTrial(ctx.deps.driver, ctx.deps.log);
  return { to: 'rolled_back', patch: { detail: { slot: targetSlot(ctx), version: ctx.rec.version, rolledBackTo } } };
};
