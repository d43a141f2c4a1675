import type { UpgradeMode } from '@twinroot/protocol';

/**
 * The upgrade flow as an explicit state machine (pure). The journal persists the state before
 * each step, so after a crash or power cut the pipeline resumes from the recorded state.
 *
 *   idle → downloading → verified → installing → boot-configured → rebooting → trial
 *        → committed | rolling-back → rolled-back;   any step → failed
 *
 * `download` mode stops at verified, `install` at boot-configured; `install-reboot` ends in
 * committed or rolled-back, settled by the boot check after the reboot.
 */
export const UPGRADE_STATES = ['idle', 'downloading', 'verified', 'installing', 'boot-configured', 'rebooting', 'trial', 'committed', 'rolling-back', 'rolled-back', 'failed'] as const;
export type UpgradeState = (typeof UPGRADE_STATES)[number];

const TRANSITIONS: Record<UpgradeState, readonly UpgradeState[]> = {
  idle: ['downloading', 'failed'],
  downloading: ['verified', 'failed'],
  verified: ['installing', 'failed'],
  installing: ['boot-configured', 'failed'],
  'boot-configured': ['rebooting', 'failed'],
  // rolled-back straight from rebooting: the trial slot never came up, GRUB fell back.
  rebooting: ['trial', 'committed', 'rolled-back', 'failed'],
  trial: ['committed', 'rolling-back'],
  'rolling-back': ['rolled-back'],
  committed: [],
  'rolled-back': [],
  failed: [],
};

export function canTransition(from: UpgradeState, to: UpgradeState): boolean {
  return TRANSITIONS[from].includes(to);
}

export const TERMINAL_STATES: readonly UpgradeState[] = ['committed', 'rolled-back', 'failed'];

/** Where each mode's task is finished. */
export const FINAL_STATE_OF_MODE: Record<UpgradeMode, UpgradeState> = {
  download: 'verified',
  install: 'boot-configured',
  'install-reboot': 'committed',
};

export type UpgradeStep = 'download' | 'install' | 'try-and-reboot' | 'reboot' | 'finished' | 'boot-check';

/** The next step for a task whose journal says `state` (pure; the heart of resume-after-crash). */
export function nextStep(state: UpgradeState, mode: UpgradeMode): UpgradeStep {
  switch (state) {
    case 'idle':
    case 'downloading':
      return 'download';
    case 'verified':
      return mode === 'download' ? 'finished' : 'install';
    case 'installing':
      return 'install';
    case 'boot-configured':
      return mode === 'install-reboot' ? 'try-and-reboot' : 'finished';
    case 'rebooting':
      return 'reboot';
    case 'trial':
    case 'rolling-back':
      return 'boot-check';
    case 'committed':
    case 'rolled-back':
    case 'failed':
      return 'finished';
  }
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
    case 'boot-configured':
      return 'boot-configured';
    default:
      return 'idle';
  }
}
