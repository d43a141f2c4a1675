import type { HealthReport, SlotDriver } from '../../slots/driver.js';
import { targetSlot, type Step, type StepResult } from './step.js';

export type TrialVerdict = { ok: true; checks: number } | { ok: false; reason: string };

function failedChecks(report: HealthReport): string {
  return report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.output.split('\n')[0] ?? ''}`.trim()).join('; ').slice(0, 900) || 'no checks ran';
}

/** Health-checks the booted trial slot and commits it when every check passes. */
export async function checkAndCommit(driver: SlotDriver): Promise<TrialVerdict> {
  let report: HealthReport;
  try {
    report = await driver.healthCheck();
  } catch (err) {
    report = { ok: false, checks: [{ name: 'health-check', ok: false, exitCode: 1, output: (err as Error).message, durationMs: 0 }] };
  }
  if (report.ok) {
    try {
      await driver.commit();
      return { ok: true, checks: report.checks.length };
    } catch (err) {
      report = { ok: false, checks: [...report.checks, { name: 'commit', ok: false, exitCode: 1, output: (err as Error).message, durationMs: 0 }] };
    }
  }
  return { ok: false, reason: failedChecks(report) };
}

/**
 * trial → committed | rolling_back. Resumed after a crash, a trial that is already committed
 * (the commit ran, the record did not) is recorded as such, and one the appliance is no longer
 * booted in (someone rebooted it) ended on the committed slot.
 */
export const trial: Step = async (ctx): Promise<StepResult> => {
  const { rec, deps } = ctx;
  const slot = targetSlot(ctx);
  const status = await deps.driver.status();
  if (!status.trial) {
    if (status.bootedSlot === slot) return { to: 'committed', patch: { detail: { slot, version: rec.version, committed: true } } };
    const message = `the appliance left trial slot ${slot} before it was checked; it is on committed slot ${status.committedSlot}`;
    return { to: 'rolled_back', patch: { error: { code: 'trial_boot_failed', message }, detail: { slot, version: rec.version, bootedSlot: status.bootedSlot } } };
  }
  const verdict = await checkAndCommit(deps.driver);
  if (verdict.ok) {
    deps.log.info({ slot, version: rec.version, checks: verdict.checks }, 'boot: health checks passed; slot committed');
    return { to: 'committed', patch: { detail: { slot, version: rec.version, committed: true, checks: verdict.checks } } };
  }
  deps.log.error({ slot, version: rec.version, reason: verdict.reason }, 'boot: trial slot is unhealthy; rolling back');
  const message = `health check failed in slot ${slot} (version ${rec.version}): ${verdict.reason}`.slice(0, 1000);
  return { to: 'rolling_back', patch: { error: { code: 'health_check_failed', message } } };
};
