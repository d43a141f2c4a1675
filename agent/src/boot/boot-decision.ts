import type { SlotStatus } from '../slots/status.js';
import type { PendingBoot } from './pending-boot.js';

/** What the agent must do about its boot when it starts (pure: status + record + boot id). */
export type BootAction =
  /** Nothing arranged and not in a trial. */
  | { kind: 'nothing' }
  /** A trial is arranged but this is still the boot that arranged it (the agent restarted). */
  | { kind: 'await-reboot'; pending: PendingBoot }
  /** Booted in trial: health-check, then commit, or roll back and reboot. */
  | { kind: 'check-trial'; pending: PendingBoot | null }
  /** The trial slot is booted and already committed (the agent stopped before reporting). */
  | { kind: 'report-committed'; pending: PendingBoot }
  /** Rebooted, but the trial slot did not come up: GRUB fell back to the committed slot. */
  | { kind: 'report-fallback'; pending: PendingBoot };

export function decideBootAction(status: SlotStatus, pending: PendingBoot | null, bootId: string): BootAction {
  if (status.trial) return { kind: 'check-trial', pending: pending && pending.slot === status.bootedSlot ? pending : null };
  if (!pending) return { kind: 'nothing' };
  if (pending.bootId === bootId) return { kind: 'await-reboot', pending };
  if (status.bootedSlot === pending.slot && status.committedSlot === pending.slot) return { kind: 'report-committed', pending };
  return { kind: 'report-fallback', pending };
}
