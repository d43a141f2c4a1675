import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { Type, type Static } from '@sinclair/typebox';
import { compile, Slot, Version } from '@twinroot/protocol';
import type { AgentConfig } from '../config.js';

/** What the agent reports about its boot slots (the `status --json` contract of grub-scripts). */
export const SlotStatus = Type.Object({
  bootedSlot: Slot,
  committedSlot: Slot,
  trial: Type.Boolean(),
  slots: Type.Object({
    A: Type.Object({ version: Type.Union([Version, Type.Null()]) }, { additionalProperties: true }),
    B: Type.Object({ version: Type.Union([Version, Type.Null()]) }, { additionalProperties: true }),
  }, { additionalProperties: false }),
}, { additionalProperties: true });
export type SlotStatus = Static<typeof SlotStatus>;
const validate = compile(SlotStatus);

export interface SlotStatusSource {
  status(): Promise<SlotStatus>;
}

/** The running version: what the booted slot has installed. */
export function runningVersion(s: SlotStatus): string {
  const v = s.slots[s.bootedSlot].version;
  if (!v) throw new Error(`booted slot ${s.bootedSlot} has no version marker`);
  return v;
}

function readVersion(file: string): string | null {
  if (!existsSync(file)) return null;
  const v = readFileSync(file, 'utf8').trim();
  return v === '' ? null : v;
}

/**
 * `dir` slots: each slot is a directory (<root>/A, <root>/B) with its version in
 * etc/twinroot/version, and the boot state is <root>/bootstate.json — for demos and fleet
 * simulation where no disk or bootloader is involved.
 */
export function dirSlotStatus(root: string): SlotStatusSource {
  return {
    async status() {
      const statePath = join(root, 'bootstate.json');
      const state = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>) : {};
      const candidate = {
        bootedSlot: state.booted ?? 'A',
        committedSlot: state.committed ?? 'A',
        trial: state.trial ?? false,
        slots: {
          A: { version: readVersion(join(root, 'A', 'etc/twinroot/version')), path: join(root, 'A') },
          B: { version: readVersion(join(root, 'B', 'etc/twinroot/version')), path: join(root, 'B') },
        },
      };
      const v = validate(candidate);
      if (!v.ok) throw new Error(`dir slots at ${root}: ${v.error}`);
      return v.value;
    },
  };
}

/** `lvm-grub` slots: asks grub-scripts (`<command> status --json`) — argument arrays, no shell. */
export function scriptSlotStatus(command: string[]): SlotStatusSource {
  return {
    async status() {
      const [file, ...args] = command as [string, ...string[]];
      const out = await execa(file, [...args, 'status', '--json'], { timeout: 60_000, reject: false });
      if (out.exitCode !== 0) throw new Error(`${file} status failed (exit ${out.exitCode}): ${(out.stderr || out.stdout).split('\n')[0]}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(out.stdout);
      } catch {
        throw new Error(`${file} status --json printed something that is not JSON`);
      }
      const v = validate(parsed);
      if (!v.ok) throw new Error(`${file} status --json: ${v.error}`);
      return v.value;
    },
  };
}

export function slotStatusSource(cfg: AgentConfig['slots']): SlotStatusSource {
  return cfg.driver === 'dir' ? dirSlotStatus(cfg.root) : scriptSlotStatus(cfg.command);
}
