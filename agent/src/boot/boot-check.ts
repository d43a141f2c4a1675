import type { Logger } from 'pino';
import type { SlotDriver, HealthReport } from '../slots/driver.js';
import type { Outbox } from '../outbox/outbox.js';
import type { Inbox } from '../dispatch/inbox.js';
import { decideBootAction, type BootAction } from './boot-decision.js';
import { clearPendingBoot, readPendingBoot, type PendingBoot } from './pending-boot.js';
import { UpgradeJournal } from '../upgrade/journal.js';
import { canTransition, type UpgradeState } from '../upgrade/machine.js';

export interface BootCheckDeps {
  driver: SlotDriver;
  stateDir: string;
  outbox: Outbox;
  inbox: Inbox;
  log: Logger;
  reboot: () => Promise<void>;
}

export type BootCheckOutcome = BootAction['kind'] | 'committed' | 'rolled-back';

function failedChecks(report: HealthReport): string {
  return report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.output.split('\n')[0] ?? ''}`.trim()).join('; ').slice(0, 900) || 'no checks ran';
}

/**
 * Run once when the agent starts, before it resumes tasks. In a trial boot: health-check, then
 * commit — or roll back and reboot. Either way the task that arranged the trial gets its
 * result (queued in the persistent outbox before any reboot, so it reaches the backend).
 */
export async function runBootCheck(deps: BootCheckDeps): Promise<BootCheckOutcome> {
  const { driver, log } = deps;
  const status = await driver.status();
  const action = decideBootAction(status, readPendingBoot(deps.stateDir), driver.bootId());
  const journal = new UpgradeJournal(deps.stateDir);
  // The upgrade journal follows the trial too (when the trial was arranged by an upgrade task).
  const mark = (p: PendingBoot | null, state: UpgradeState, error?: { code: string; message: string }) => {
    const rec = journal.read();
    if (!p || !rec || rec.taskId !== p.taskId) return;
    if (rec.state === 'rebooting' && (state === 'rolling-back' || state === 'committed')) journal.transition(journal.transition(rec, 'trial'), state, error ? { error } : {});
    else if (canTransition(rec.state, state)) journal.transition(rec, state, error ? { error } : {});
  };
  const settle = (p: PendingBoot | null, result: Parameters<Outbox['add']>[1]) => {
    if (!p) return;
    deps.outbox.add(p.taskId, result);
    deps.inbox.done(p.taskId);
    clearPendingBoot(deps.stateDir);
  };
  switch (action.kind) {
    case 'nothing':
      return 'nothing';
    case 'await-reboot':
      log.info({ taskId: action.pending.taskId, slot: action.pending.slot }, 'boot: trial boot arranged; waiting for the reboot');
      return 'await-reboot';
    case 'report-committed':
      log.info({ taskId: action.pending.taskId, slot: action.pending.slot }, 'boot: trial slot already committed');
      mark(action.pending, 'committed');
      settle(action.pending, { status: 'succeeded', detail: { slot: action.pending.slot, version: action.pending.version, committed: true } });
      return 'report-committed';
    case 'report-fallback': {
      const p = action.pending;
      const message = `slot ${p.slot} (version ${p.version}) did not come up; the appliance is back on committed slot ${status.committedSlot}`;
      log.error({ taskId: p.taskId }, `boot: ${message}`);
      mark(p, 'rolled-back', { code: 'trial_boot_failed', message });
      settle(p, { status: 'failed', error: { code: 'trial_boot_failed', message }, detail: { slot: p.slot, version: p.version, bootedSlot: status.bootedSlot } });
      return 'report-fallback';
    }
    case 'check-trial': {
      const slot = status.bootedSlot;
      const version = status.slots[slot].version;
      mark(action.pending, 'trial');
      let report: HealthReport;
      try {
        report = await driver.healthCheck();
      } catch (err) {
        report = { ok: false, checks: [{ name: 'health-check', ok: false, exitCode: 1, output: (err as Error).message, durationMs: 0 }] };
      }
      if (report.ok) {
        try {
          await driver.commit();
          log.info({ slot, version, checks: report.checks.length }, 'boot: health checks passed; slot committed');
          mark(action.pending, 'committed');
          settle(action.pending, { status: 'succeeded', detail: { slot, version, committed: true, checks: report.checks.length } });
          return 'committed';
        } catch (err) {
          report = { ok: false, checks: [...report.checks, { name: 'commit', ok: false, exitCode: 1, output: (err as Error).message, durationMs: 0 }] };
        }
      }
      const reason = failedChecks(report);
      log.error({ slot, version, reason }, 'boot: trial slot is unhealthy; rolling back');
      const failure = { code: 'health_check_failed', message: `health check failed in slot ${slot} (version ${version ?? 'unknown'}): ${reason}`.slice(0, 1000) };
      mark(action.pending, 'rolling-back', failure);
      let rolledBackTo: string;
      try {
        rolledBackTo = await driver.rollback();
      } catch (err) {
        // The trial is not committed: any reboot returns to the committed slot anyway.
        rolledBackTo = status.committedSlot;
        log.warn({ err: (err as Error).message }, 'boot: rollback command failed; rebooting into the committed slot');
      }
      mark(action.pending, 'rolled-back', failure);
      settle(action.pending, {
        status: 'failed',
        error: failure,
        detail: { slot, version, rolledBackTo },
      });
      await deps.outbox.drained(5000);
      await deps.reboot();
      return 'rolled-back';
    }
  }
}
