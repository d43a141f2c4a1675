import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { compile, Id, Slot, Timestamp, Version } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';

/**
 * A trial boot the agent arranged for a task: written before the reboot, read by the boot
 * check after it, so the task's result can be reported from the other side of the reboot.
 */
export const PendingBoot = Type.Object({
  taskId: Id,
  slot: Slot,
  version: Version,
  /** The boot that arranged the trial: the same id after a restart means "not rebooted yet". */
  bootId: Type.String({ minLength: 1, maxLength: 128 }),
  arrangedAt: Timestamp,
}, { additionalProperties: false });
export type PendingBoot = Static<typeof PendingBoot>;
const validate = compile(PendingBoot);

const file = (stateDir: string) => join(stateDir, 'pending-boot.json');

export function readPendingBoot(stateDir: string): PendingBoot | null {
  if (!existsSync(file(stateDir))) return null;
  try {
    const v = validate(JSON.parse(readFileSync(file(stateDir), 'utf8')));
    if (v.ok) return v.value;
  } catch {
    // unreadable: treated as absent below
  }
  // A damaged record cannot be acted on; the backend's timeout sweep settles its task.
  clearPendingBoot(stateDir);
  return null;
}

export function writePendingBoot(stateDir: string, p: PendingBoot): void {
  const v = validate(p);
  if (!v.ok) throw new Error(`pending boot record: ${v.error}`);
  writeFileAtomic(file(stateDir), JSON.stringify(p));
}

export function clearPendingBoot(stateDir: string): void {
  try {
    unlinkSync(file(stateDir));
  } catch {
    // already gone
  }
}
