import { isErrorCode, type ErrorCode, type TaskProgress } from '@twinroot/protocol';
import { SLOT_OPERATION_CODES, SlotCommandError } from '../slots/driver.js';
import { PayloadError } from './download.js';
import { ManifestError } from './manifest-fetch.js';
import { UpgradeJournal, type RecordPatch, type UpgradeRecord } from './journal.js';
import { canTransition, isFinished, RESUME_LIMIT, stateAfterResumeLimit, type UpgradeState } from './machine.js';
import { STEPS } from './states/index.js';
import type { MachineDeps, PayloadPlan, StepContext } from './states/step.js';

export class UpgradeError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'UpgradeError';
  }
}

/** A test's simulated crash (thrown from a hook) must look like the process dying. */
export class SimulatedCrash extends Error {}

/** The task error code of whatever a step threw (a catalogued code, never a made-up one). */
export function errorCode(err: unknown): ErrorCode {
  if (err instanceof UpgradeError || err instanceof PayloadError || err instanceof ManifestError) return err.code;
  if (err instanceof SlotCommandError) return SLOT_OPERATION_CODES[err.operation];
  // Errors that carry their own task error code (e.g. the reboot command's `reboot_failed`).
  const own = (err as { code?: unknown } | null)?.code;
  if (typeof own === 'string' && isErrorCode(own)) return own;
  return 'upgrade_failed';
}

export interface RunOptions {
  payload: PayloadPlan | null;
  /** True when the record was read from disk (a restart, a reboot): counts a resume of its state. */
  resumed: boolean;
  signal?: AbortSignal;
  progress?: (p: TaskProgress) => void;
}

export interface RunEnd {
  rec: UpgradeRecord;
  /** The run stopped for the reboot into the trial slot; the next start goes on. */
  rebooting: boolean;
  /** The states this run entered, in order. */
  entered: UpgradeState[];
}

/**
 * The one place that advances an upgrade and the only writer of its journal. For each state it
 * persists the state (and, on a resume, the resume count) before the state's step runs, then
 * records the one transition the step returns. A step that fails before the switch ends the
 * upgrade in `failed`; a stop (agent shutdown) or a crash leaves the state to resume.
 */
export class UpgradeRunner {
  private readonly journal: UpgradeJournal;

  constructor(stateDir: string, private readonly deps: MachineDeps) {
    this.journal = new UpgradeJournal(stateDir);
  }

  read(): UpgradeRecord | null {
    return this.journal.read();
  }

  begin(r: Parameters<UpgradeJournal['begin']>[0]): UpgradeRecord {
    return this.journal.begin(r);
  }

  async run(start: UpgradeRecord, opts: RunOptions): Promise<RunEnd> {
    let rec = start;
    const entered: UpgradeState[] = [];
    const to = (state: UpgradeState, patch?: RecordPatch) => {
      rec = this.journal.transition(rec, state, patch);
      entered.push(state);
      this.deps.afterTransition?.(state);
    };
    if (opts.resumed && !isFinished(rec.state, rec.mode)) {
      rec = this.journal.setResumes(rec, rec.resumes + 1);
      if (rec.resumes > RESUME_LIMIT) {
        const where = rec.state;
        const code = where === 'trial' ? 'trial_crash_loop' : 'crash_loop';
        const message = `the agent stopped ${RESUME_LIMIT} times in state ${where} without finishing it; the upgrade stops here and the appliance stays on its committed slot`;
        this.deps.log.error({ taskId: rec.taskId, state: where, resumes: rec.resumes }, `upgrade: ${message}`);
        to(stateAfterResumeLimit(where), { error: { code, message } });
      }
    }
    const ctx: StepContext = { rec, deps: this.deps, payload: opts.payload, ...(opts.signal ? { signal: opts.signal } : {}), progress: (p) => opts.progress?.(p), carry: { install: null, inflight: new AbortController() } };
    try {
      for (;;) {
        if (isFinished(rec.state, rec.mode)) return { rec, rebooting: false, entered };
        const step = STEPS[rec.state as keyof typeof STEPS];
        this.deps.beforeStep?.(rec.state);
        const result = await step({ ...ctx, rec });
        if ('stop' in result) return { rec, rebooting: true, entered };
        to(result.to, result.patch);
      }
    } catch (err) {
      // Work still in flight (an overlapped install) is stopped before the error propagates.
      ctx.carry.inflight.abort(err);
      await ctx.carry.install?.catch(() => undefined);
      if (err instanceof SimulatedCrash) throw err;
      if (opts.signal?.aborted) {
        // A clean stop is not a crash: the state resumes without counting against it.
        rec = this.journal.setResumes(rec, 0);
        throw err;
      }
      const code = errorCode(err);
      const message = (err as Error).message;
      if (canTransition(rec.state, 'failed')) to('failed', { error: { code, message: message.slice(0, 2000) } });
      throw new UpgradeError(code, message);
    }
  }
}
