import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { compile, parseVersion, type Slot } from '@twinroot/protocol';
import { HealthReport, SlotCommandError, otherSlot, type InstallRequest, type SlotDriver, type SlotOperation } from './driver.js';
import { SlotStatus } from './status.js';
import { feed } from './feed.js';

const validateStatus = compile(SlotStatus);
const validateHealth = compile(HealthReport);

function checkSlot(slot: string): Slot {
  if (slot !== 'A' && slot !== 'B') throw new SlotCommandError('args', `invalid slot ${JSON.stringify(slot)}`);
  return slot;
}

/**
 * twinroot-slot's argument arrays (pure, so they can be tested alone). Every value is checked
 * before it becomes an argument: nothing here can be read as an option or reach a shell.
 */
export const slotArgs = {
  status: () => ['status', '--json'],
  install(req: Pick<InstallRequest, 'slot' | 'payloadFile' | 'compression' | 'version'>): string[] {
    if (req.payloadFile !== '-' && !isAbsolute(req.payloadFile)) throw new SlotCommandError('args', `payload path must be absolute (or - for a stream): ${req.payloadFile}`);
    if (req.compression !== 'zstd' && req.compression !== 'xz') throw new SlotCommandError('args', `unsupported compression ${String(req.compression)}`);
    try {
      parseVersion(req.version);
    } catch {
      throw new SlotCommandError('args', `not a semantic version: ${req.version}`);
    }
    return ['install', '--slot', checkSlot(req.slot), '--payload', req.payloadFile, '--compression', req.compression, '--version', req.version, '--json'];
  },
  syncConfig: (slot: Slot) => ['sync-config', '--slot', checkSlot(slot), '--json'],
  bootConfig: (slot: Slot) => ['boot-config', '--slot', checkSlot(slot), '--json'],
  tryBoot: (slot: Slot) => ['try', '--slot', checkSlot(slot), '--json'],
  commit: () => ['commit', '--json'],
  rollback: () => ['rollback', '--json'],
  healthCheck: () => ['health-check', '--json'],
};

export interface CommandRunner {
  (file: string, args: string[], opts: { timeoutMs: number; signal?: AbortSignal; input?: Readable }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

const execaRunner: CommandRunner = async (file, args, opts) => {
  const sub = execa(file, args, { reject: false, timeout: opts.timeoutMs, ...(opts.signal ? { cancelSignal: opts.signal } : {}), stripFinalNewline: true, stdin: opts.input ? 'pipe' : 'ignore' });
  if (opts.input) feed(opts.input, sub);
  const r = await sub;
  return { exitCode: r.exitCode ?? (r.isCanceled ? 130 : 1), stdout: r.stdout, stderr: r.stderr };
};

const MINUTE = 60_000;

/** The real driver: grub-scripts' `twinroot-slot`, run as an argument array (never a shell). */
export function lvmGrubDriver(command: string[], run: CommandRunner = execaRunner): SlotDriver {
  const [file, ...prefix] = command as [string, ...string[]];
  async function call(operation: SlotOperation, args: string[], timeoutMs: number, signal?: AbortSignal, okExitCodes = [0], input?: Readable) {
    const r = await run(file, [...prefix, ...args], { timeoutMs, ...(signal ? { signal } : {}), ...(input ? { input } : {}) });
    if (!okExitCodes.includes(r.exitCode)) {
      const reason = (r.stderr || r.stdout).trim().split('\n').pop() || `exit ${r.exitCode}`;
      throw new SlotCommandError(operation, `${operation} failed: ${reason}`);
    }
    return r;
  }
  function parse<T>(operation: SlotOperation, text: string, check?: (v: unknown) => { ok: true; value: T } | { ok: false; error: string }): T {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      throw new SlotCommandError(operation, `${operation}: twinroot-slot printed something that is not JSON`);
    }
    if (!check) return v as T;
    const r = check(v);
    if (!r.ok) throw new SlotCommandError(operation, `${operation}: unexpected output: ${r.error}`);
    return r.value;
  }
  return {
    kind: 'lvm-grub',
    async status() {
      return parse('status', (await call('status', slotArgs.status(), MINUTE)).stdout, validateStatus);
    },
    async install(req) {
      if (req.payloadFile === '-' && !req.payloadStream) throw new SlotCommandError('install', 'payload "-" needs a payload stream');
      await call('install', slotArgs.install(req), 60 * MINUTE, req.signal, [0], req.payloadFile === '-' ? req.payloadStream : undefined);
    },
    async syncConfig(slot) {
      await call('sync-config', slotArgs.syncConfig(slot), 10 * MINUTE);
    },
    async bootConfig(slot) {
      await call('boot-config', slotArgs.bootConfig(slot), 15 * MINUTE);
    },
    async tryBoot(slot) {
      await call('try', slotArgs.tryBoot(slot), MINUTE);
    },
    async commit() {
      await call('commit', slotArgs.commit(), MINUTE);
    },
    async rollback() {
      const before = await this.status();
      await call('rollback', slotArgs.rollback(), MINUTE);
      return otherSlot(before.bootedSlot);
    },
    async healthCheck() {
      // Exit 1 means "a check failed": the report says which.
      const r = await call('health-check', slotArgs.healthCheck(), 30 * MINUTE, undefined, [0, 1]);
      return parse('health-check', r.stdout, validateHealth);
    },
    bootId() {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    },
  };
}
