import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../state/atomic-file.js';
import { canTransition, type UpgradeState } from './machine.js';
import { JOURNAL_FORMAT, migrateJournal, validateRecord, type UpgradeRecord } from './journal-migration.js';

export { UpgradeRecord } from './journal-migration.js';

/** What a transition may change besides the state. */
export type RecordPatch = Partial<Pick<UpgradeRecord, 'slot' | 'payloadSha256' | 'error' | 'bootId' | 'detail'>>;

function readJson(file: string): unknown {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null; // damaged: as if absent (the backend's timeout sweep settles its task)
  }
}

/**
 * The upgrade's one persisted record: <stateDir>/upgrade.json, replaced atomically (temp file,
 * fsync, rename). Only the runner writes it, and always before the step it announces runs.
 */
export class UpgradeJournal {
  readonly file: string;
  private readonly legacyPendingBoot: string;

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.file = join(stateDir, 'upgrade.json');
    this.legacyPendingBoot = join(stateDir, 'pending-boot.json');
  }

  /** The record, migrated (and rewritten) first when an older agent left it. */
  read(): UpgradeRecord | null {
    const raw = readJson(this.file);
    const pending = existsSync(this.legacyPendingBoot) ? readJson(this.legacyPendingBoot) : undefined;
    if (pending === undefined && validateRecord(raw).ok) return raw as UpgradeRecord;
    const rec = migrateJournal(raw, pending ?? null);
    if (rec) this.write(rec);
    if (pending !== undefined) unlinkSync(this.legacyPendingBoot);
    return rec;
  }

  /** Starts a record for a task (replacing any earlier task's record). */
  begin(r: Omit<UpgradeRecord, 'formatVersion' | 'history' | 'updatedAt' | 'error' | 'bootId' | 'resumes' | 'detail'>): UpgradeRecord {
    const at = new Date().toISOString();
    const rec: UpgradeRecord = { formatVersion: JOURNAL_FORMAT, ...r, bootId: null, resumes: 0, detail: {}, error: null, history: [{ state: r.state, at }], updatedAt: at };
    this.write(rec);
    return rec;
  }

  /** Moves the task's record to `to`; refuses a transition the machine does not have. */
  transition(rec: UpgradeRecord, to: UpgradeState, patch: RecordPatch = {}): UpgradeRecord {
    if (rec.state === to && Object.keys(patch).length === 0) return rec;
    if (rec.state !== to && !canTransition(rec.state, to)) throw new Error(`upgrade ${rec.taskId}: no transition from ${rec.state} to ${to}`);
    const at = new Date().toISOString();
    const history = rec.state === to ? rec.history : [...rec.history, { state: to, at }].slice(-100);
    const next: UpgradeRecord = { ...rec, ...patch, state: to, resumes: rec.state === to ? rec.resumes : 0, history, updatedAt: at };
    this.write(next);
    return next;
  }

  /** Sets the resume counter of the current state (counted before a resumed step runs). */
  setResumes(rec: UpgradeRecord, resumes: number): UpgradeRecord {
    if (rec.resumes === resumes) return rec;
    const next = { ...rec, resumes, updatedAt: new Date().toISOString() };
    this.write(next);
    return next;
  }

  private write(rec: UpgradeRecord): void {
    const v = validateRecord(rec);
    if (!v.ok) throw new Error(`upgrade record: ${v.error}`);
    writeFileAtomic(this.file, JSON.stringify(rec, null, 2) + '\n');
  }
}
