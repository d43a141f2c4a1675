import type { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { ErrorCode, Slot } from '@twinroot/protocol';
import type { SlotStatus, SlotStatusSource } from './status.js';

/** One health check's outcome (the `health-check --json` contract of grub-scripts). */
export const HealthCheckResult = Type.Object({
  name: Type.String({ maxLength: 256 }),
  ok: Type.Boolean(),
  exitCode: Type.Integer(),
  output: Type.String({ maxLength: 8192 }),
  durationMs: Type.Integer({ minimum: 0 }),
}, { additionalProperties: true });
export const HealthReport = Type.Object({
  ok: Type.Boolean(),
  checks: Type.Array(HealthCheckResult, { maxItems: 1000 }),
}, { additionalProperties: true });
export type HealthReport = Static<typeof HealthReport>;

export type Compression = 'zstd' | 'xz';

export interface InstallRequest {
  slot: Slot;
  /** Absolute path of the compressed rootfs tar, or '-' to read `payloadStream`. */
  payloadFile: string;
  /** With payloadFile '-': the compressed tar as a stream (e.g. the verified prefix of a download). */
  payloadStream?: Readable;
  compression: Compression;
  version: string;
  signal?: AbortSignal;
}

/**
 * The disk and boot operations of an A/B appliance. `lvm-grub` runs grub-scripts' twinroot-slot
 * on a real appliance; `dir` keeps slots as directories for demos and fleet simulation.
 * Every operation is idempotent; none touches the committed slot except commit/rollback,
 * which only choose the default.
 */
export interface SlotDriver extends SlotStatusSource {
  readonly kind: 'lvm-grub' | 'dir';
  status(): Promise<SlotStatus>;
  install(req: InstallRequest): Promise<void>;
  syncConfig(slot: Slot): Promise<void>;
  bootConfig(slot: Slot): Promise<void>;
  /** The next boot (once) is `slot`; any later boot returns to the committed slot. */
  tryBoot(slot: Slot): Promise<void>;
  /** Makes the booted slot the default. */
  commit(): Promise<void>;
  /** Makes the other slot the default; returns it. */
  rollback(): Promise<Slot>;
  healthCheck(): Promise<HealthReport>;
  /** Changes with every boot: tells "rebooted since the trial was arranged" from "agent restarted". */
  bootId(): string;
}

/** The slot operations (twinroot-slot's commands, and 'args' for arguments refused before any runs). */
export type SlotOperation = 'args' | 'status' | 'install' | 'sync-config' | 'boot-config' | 'try' | 'commit' | 'rollback' | 'health-check';

/** The task error code a failed slot operation reports. */
export const SLOT_OPERATION_CODES: Record<SlotOperation, ErrorCode> = {
  args: 'args_failed',
  status: 'status_failed',
  install: 'install_failed',
  'sync-config': 'sync_config_failed',
  'boot-config': 'boot_config_failed',
  try: 'try_failed',
  commit: 'commit_failed',
  rollback: 'rollback_failed',
  'health-check': 'health_check_failed',
};

export class SlotCommandError extends Error {
  constructor(readonly operation: SlotOperation, message: string) {
    super(message);
    this.name = 'SlotCommandError';
  }
}

export function otherSlot(slot: Slot): Slot {
  return slot === 'A' ? 'B' : 'A';
}
