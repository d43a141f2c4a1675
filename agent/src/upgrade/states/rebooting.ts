import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PAYLOAD_FILE } from '../download.js';
import { targetSlot, type Step, type StepResult } from './step.js';

/**
 * boot_configured → rebooting: the next boot (once) is the new slot; any boot after it returns
 * to the committed one. The boot id recorded with the state tells the boot check whether the
 * reboot has happened.
 */
export const bootConfigured: Step = async (ctx): Promise<StepResult> => {
  ctx.progress({ phase: 'try' });
  await ctx.deps.driver.tryBoot(targetSlot(ctx));
  return { to: 'rebooting', patch: { bootId: ctx.deps.driver.bootId() } };
};

/**
 * rebooting: in the boot that armed the trial, reboot (and stop the run: the next start goes
 * on). After the reboot, where the appliance came up decides: the trial slot on trial → trial;
 * the trial slot already committed (the agent stopped between commit and record) → committed;
 * anything else means the trial slot never came up and GRUB fell back → rolled_back.
 */
export const rebooting: Step = async (ctx): Promise<StepResult> => {
  const { rec, deps } = ctx;
  const slot = targetSlot(ctx);
  if (rec.bootId !== null && rec.bootId === deps.driver.bootId()) {
    if (ctx.payload) rmSync(join(ctx.payload.dir, PAYLOAD_FILE), { force: true }); // the slot holds it now
    ctx.progress({ phase: 'rebooting' });
    deps.log.info({ slot, version: rec.version }, 'upgrade: rebooting into the trial slot');
    await deps.beforeReboot?.();
    await deps.reboot();
    return { stop: 'rebooting' };
  }
  const status = await deps.driver.status();
  if (status.trial && status.bootedSlot === slot) return { to: 'trial' };
  if (status.bootedSlot === slot && status.committedSlot === slot) return { to: 'committed', patch: { detail: { slot, version: rec.version, committed: true } } };
  const message = `slot ${slot} (version ${rec.version}) did not come up; the appliance is back on committed slot ${status.committedSlot}`;
  deps.log.error({ taskId: rec.taskId }, `boot: ${message}`);
  return { to: 'rolled_back', patch: { error: { code: 'trial_boot_failed', message }, detail: { slot, version: rec.version, bootedSlot: status.bootedSlot } } };
};
