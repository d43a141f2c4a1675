import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { compile, Id, Slot, Timestamp, UPGRADE_MODES, Version } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import { canTransition, UPGRADE_STATES, type UpgradeState } from './machine.js';

export const UpgradeRecord = Type.Object({
  taskId: Id,
  version: Version,
  location: Type.String({ minLength: 1, maxLength: 4096 }),
  mode: Type.Union(UPGRADE_MODES.map((m) => Type.Literal(m))),
  allowDowngrade: Type.Boolean(),
  state: Type.Union(UPGRADE_STATES.map((s) => Type.Literal(s))),
  slot: Type.Union([Slot, Type.Null()]),
  payloadSha256: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  history: Type.Array(Type.Object({ state: Type.String(), at: Timestamp }), { maxItems: 100 }),
  updatedAt: Timestamp,
}, { additionalProperties: false });
export type UpgradeRecord = Static<typeof UpgradeRecord>;
const validate = compile(UpgradeRecord);

/**
 * The upgrade's persisted state: <stateDir>/upgrade.json, replaced atomically (temp file, fsync,
 * rename) on every transition, before the step it announces runs.
 */
export class UpgradeJournal {
  readonly file: string;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.file = join(stateDir, 'upgrade.json');
  }

  read(): UpgradeRecord | null {
    if (!existsSync(this.file)) return null;
    try {
      const v = validate(JSON.parse(readFileSync(this.file, 'utf8')));
      return v.ok ? v.value : null;
    } catch {
      return null;
    }
  }

  /** Starts a record for a task (replacing any earlier task's record). */
  begin(r: Omit<UpgradeRecord, 'history' | 'updatedAt' | 'error'>): UpgradeRecord {
    const at = new Date().toISOString();
    const rec: UpgradeRecord = { ...r, error: null, history: [{ state: r.state, at }], updatedAt: at };
    this.write(rec);
    return rec;
  }

  /** Moves the task's record to `to`; refuses a transition the machine does not have. */
  transition(rec: UpgradeRecord, to: UpgradeState, patch: Partial<Pick<UpgradeRecord, 'slot' | 'payloadSha256' | 'error'>> = {}): UpgradeRecord {
    if (rec.state === to && Object.keys(patch).length === 0) return rec;
    if (rec.state !== to && !canTransition(rec.state, to)) throw new Error(`upgrade ${rec.taskId}: no transition from ${rec.state} to ${to}`);
    const at = new Date().toISOString();
    const next: UpgradeRecord = { ...rec, ...patch, state: to, history: [...rec.history, { state: to, at }].slice(-100), updatedAt: at };
    this.write(next);
    return next;
  }

  private write(rec: UpgradeRecord): void {
    const v = validate(rec);
    if (!v.ok) throw new Error(`upgrade record: ${v.error}`);
    writeFileAtomic(this.file, JSON.stringify(rec, null, 2) + '\n');
  }
}
