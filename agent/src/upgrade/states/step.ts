import type { KeyObject } from 'node:crypto';
import type { Manifest, TaskProgress } from '@twinroot/protocol';
import type { SlotDriver } from '../../slots/driver.js';
import type { DownloadOptions } from '../download.js';
import type { RecordPatch, UpgradeRecord } from '../journal.js';
import type { UpgradeState } from '../machine.js';
import type { PayloadSource } from '../payload-source.js';

export interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface UpgradeDeps {
  stateDir: string;
  downloadRoot: string;
  driver: SlotDriver;
  /** The pinned release-signing key (loaded when needed, so a missing key fails the task, not the agent). */
  publicKey: () => KeyObject;
  compatible: string | null;
  cpuinfo: () => string;
  log: Logger;
  reboot: () => Promise<void>;
  /** Runs just before the reboot (e.g. flush queued results). */
  beforeReboot?: () => Promise<void>;
  freeBytes?: (dir: string) => number;
  download?: Pick<DownloadOptions, 'maxAttempts' | 'backoffMs' | 'maxChunkFailures'>;
  /** Start extracting while the payload downloads (default true). */
  overlapInstall?: boolean;
  /** Test hook, called after each persisted transition: throwing there simulates a crash. */
  afterTransition?: (state: UpgradeState) => void;
  /** Test hook, called before each step runs: throwing there simulates a step that kills the agent. */
  beforeStep?: (state: UpgradeState) => void;
}

/** What the steps after the boot switch need: no manifest, no download. */
export type MachineDeps = Pick<UpgradeDeps, 'driver' | 'log' | 'reboot' | 'beforeReboot' | 'afterTransition' | 'beforeStep'> & Partial<Pick<UpgradeDeps, 'download' | 'overlapInstall'>>;

/** The payload a task installs: only the steps before the switch need it. */
export interface PayloadPlan {
  manifest: Manifest;
  source: PayloadSource;
  /** <downloadRoot>/<version>: manifest, signature, payload and its progress record. */
  dir: string;
}

export interface StepContext {
  /** The record as persisted before this step (read-only: the runner alone writes it). */
  rec: UpgradeRecord;
  deps: MachineDeps;
  payload: PayloadPlan | null;
  signal?: AbortSignal;
  progress(p: TaskProgress): void;
  /** Work one step leaves running for a later step of the same run (an overlapped install). */
  carry: { install: Promise<void> | null; inflight: AbortController };
}

/** A step ends in the one transition it may take, or stops the run until the reboot. */
export type StepResult = { to: UpgradeState; patch?: RecordPatch } | { stop: 'rebooting' };
export type Step = (ctx: StepContext) => Promise<StepResult>;

export function needPayload(ctx: StepContext): PayloadPlan {
  if (!ctx.payload) throw new Error(`upgrade ${ctx.rec.taskId}: state ${ctx.rec.state} needs its manifest`);
  return ctx.payload;
}

export function targetSlot(ctx: StepContext): 'A' | 'B' {
  if (!ctx.rec.slot) throw new Error(`upgrade ${ctx.rec.taskId}: no target slot recorded`);
  return ctx.rec.slot;
}
