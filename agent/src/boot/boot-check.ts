import type { Logger } from 'pino';
import type { SlotDriver } from '../slots/driver.js';
import type { Outbox } from '../outbox/outbox.js';
import type { Inbox } from '../dispatch/inbox.js';
import { AFTER_SWITCH_STATES } from '../upgrade/machine.js';
import type { UpgradeRecord } from '../upgrade/journal.js';
import { UpgradeRunner } from '../upgrade/runner.js';
import type { MachineDeps } from '../upgrade/states/step.js';
import { checkAndCommit } from '../upgrade/states/trial.js';
import { rollBackTrial } from '../upgrade/states/rolling-back.js';

export interface BootCheckDeps {
  driver: SlotDriver;
  stateDir: string;
  outbox: Outbox;
  inbox: Inbox;
  log: Logger;
  reboot: () => Promise<void>;
  /** Test hooks of the state machine (simulated crashes). */
  hooks?: Pick<MachineDeps, 'afterTransition' | 'beforeStep'>;
}

export type BootCheckOutcome =
  /** No trial and no upgrade waiting for its reboot. */
  | 'nothing'
  /** An upgrade armed its trial in this very boot (the agent restarted): the reboot is still to come. */
  | 'await_reboot'
  /** Health-checked in the trial and committed. */
  | 'committed'
  /** The trial slot was already committed (the agent stopped between commit and record). */
  | 'report_committed'
  /** The trial slot never came up: GRUB fell back to the committed slot. */
  | 'report_fallback'
  /** Unhealthy (or crash-looping) trial: rolled back; the agent reboots into the committed slot. */
  | 'rolled_back'
  /** The upgrade failed in its reboot state (the crash-loop guard). */
  | 'failed';

function resultOf(rec: UpgradeRecord): Parameters<Outbox['add']>[1] {
  if (rec.state === 'committed') return { status: 'succeeded', detail: rec.detail };
  return { status: 'failed', detail: rec.detail, error: rec.error ?? { code: 'upgrade_failed', message: `upgrade ended in ${rec.state}` } };
}

/**
 * Run once when the agent starts, before it resumes tasks: the upgrade machine's states after
 * the switch (rebooting → trial → committed | rolling_back → rolled_back) run here, from the
 * journal. The task's result is queued in the persistent outbox before any reboot, so it
 * reaches the backend from the other side of it.
 */
export async function runBootCheck(deps: BootCheckDeps): Promise<BootCheckOutcome> {
  const { driver, log } = deps;
  const runner = new UpgradeRunner(deps.stateDir, { driver, log, reboot: deps.reboot, ...deps.hooks });
  const rec = runner.read();
  if (rec && AFTER_SWITCH_STATES.includes(rec.state)) {
    if (rec.state === 'rebooting' && rec.bootId === driver.bootId()) {
      log.info({ taskId: rec.taskId, slot: rec.slot }, 'boot: trial boot arranged; waiting for the reboot');
      return 'await_reboot';
    }
    const end = await runner.run(rec, { payload: null, resumed: true });
    deps.outbox.add(end.rec.taskId, resultOf(end.rec));
    deps.inbox.done(end.rec.taskId);
    if (end.rec.state === 'committed') return rec.state === 'trial' || end.entered.includes('trial') ? 'committed' : 'report_committed';
    if (end.rec.state !== 'rolled_back') return 'failed';
    // Still in the trial slot (unhealthy, or a crash loop in it): back to the committed slot.
    if ((await driver.status()).bootedSlot !== end.rec.slot) return 'report_fallback';
    await rebootToCommitted(deps);
    return 'rolled_back';
  }
  const status = await driver.status();
  if (!status.trial) return 'nothing';
  // Rolled back, but the power went before the reboot: finish it (never health-check that slot again).
  if (rec?.state === 'rolled_back' && rec.slot === status.bootedSlot) {
    log.warn({ taskId: rec.taskId, slot: rec.slot }, 'boot: rolled back before; rebooting into the committed slot');
    await rebootToCommitted(deps);
    return 'rolled_back';
  }
  // A trial no upgrade recorded (an operator ran `twinroot-slot try`): checked the same way, with nobody to report to.
  const verdict = await checkAndCommit(driver);
  if (verdict.ok) {
    log.info({ slot: status.bootedSlot, checks: verdict.checks }, 'boot: health checks passed; slot committed');
    return 'committed';
  }
  log.error({ slot: status.bootedSlot, reason: verdict.reason }, 'boot: trial slot is unhealthy; rolling back');
  await rollBackTrial(driver, log);
  await rebootToCommitted(deps);
  return 'rolled_back';
}

async function rebootToCommitted(deps: BootCheckDeps): Promise<void> {
  await deps.outbox.drained(5000);
  await deps.reboot();
}
