import type { UpgradeMode, UpgradeState } from '@twinroot/protocol';

/**
 * The upgrade flow as an explicit state machine (pure). The runner persists each state before
 * the state's step runs, so after a crash, a power cut or the reboot the same machine resumes
 * from the recorded state — the post-reboot half (trial, commit, fallback) included.
 *
 *   idle → downloading → verified → installing → boot_configured → rebooting → trial
 *        → committed | rolling_back → rolled_back;   any state before the switch → failed
 *
 * `download` mode stops at verified, `install` at boot_configured; `install-reboot` ends in
 * committed or rolled_back.
 */
export { UPGRADE_STATES, type UpgradeState } from '@twinroot/protocol';

const TRANSITIONS: Record<UpgradeState, readonly UpgradeState[]> = {
  idle: ['downloading', 'failed'],
  downloading: ['verified', 'failed'],
  verified: ['installing', 'failed'],
  installing: ['boot_configured', 'failed'],
  'boot_configured': ['rebooting', 'failed'],
  // committed straight from rebooting: the agent stopped between the commit and its record;
  // rolled_back: the trial slot never came up and GRUB fell back.
  rebooting: ['trial', 'committed', 'rolled_back', 'failed'],
  trial: ['committed', 'rolling_back', 'rolled_back'],
  'rolling_back': ['rolled_back'],
  committed: [],
  'rolled_back': [],
  failed: [],
};

export function canTransition(from: UpgradeState, to: UpgradeState): boolean {
  return TRANSITIONS[from].includes(to);
}

export const TERMINAL_STATES: readonly UpgradeState[] = ['committed', 'rolled_back', 'failed'];

/** States after the boot switch was armed: only the boot check (after the reboot) moves them on. */
export const AFTER_SWITCH_STATES: readonly UpgradeState[] = ['rebooting', 'trial', 'rolling_back'];

/** Where each mode's task is finished. */
export const FINAL_STATE_OF_MODE: Record<UpgradeMode, UpgradeState> = {
  download: 'verified',
  install: 'boot_configured',
  'install-reboot': 'committed',
};

/** True when nothing is left to run for a task of `mode` in `state`. */
export function isFinished(state: UpgradeState, mode: UpgradeMode): boolean {
  return TERMINAL_STATES.includes(state) || FINAL_STATE_OF_MODE[mode] === state;
}

/**
 * Resumes of one state before the crash-loop guard gives up on it: a step that kills the agent
 * every time it runs must not be retried forever.
 */
export const RESUME_LIMIT = 3;

/**
 * Where the crash-loop guard sends a state that was resumed too often. Before the switch the
 * upgrade fails (the committed slot was never touched); in the trial it rolls back; a rollback
 * that itself keeps crashing is finished by a plain reboot, which returns to the committed slot
 * because the trial was never committed.
 */
export function stateAfterResumeLimit(state: UpgradeState): UpgradeState {
  if (state === 'trial') return 'rolling_back';
  if (state === 'rolling_back') return 'rolled_back';
  return 'failed';
}

/**
 * Which state a new task may start from, given what an earlier task left (pure). A package
 * downloaded (or installed) ahead by a `download` (or `install`) task is reused when it is the
 * same payload; anything else starts over.
 */
export function startingState(previous: { state: UpgradeState; version: string; payloadSha256: string | null } | null, next: { version: string; payloadSha256: string }): UpgradeState {
  if (!previous || previous.version !== next.version || previous.payloadSha256 !== next.payloadSha256) return 'idle';
  switch (previous.state) {
    case 'downloading':
      return 'downloading';
    case 'verified':
    case 'installing':
      return 'verified';
    case 'boot_configured':
      return 'boot_configured';
    default:
      return 'idle';
  }
}
