import { Type, type Static } from '@sinclair/typebox';
import { compile, fromProtocol1, Id, Slot, Timestamp, UPGRADE_MODES, Version, type UpgradeState } from '@twinroot/protocol';
import { UPGRADE_STATES } from './machine.js';

/** The journal's format today. Version 1 (agents ≤ 0.9) had no `formatVersion` and kept the trial in pending-boot.json. */
export const JOURNAL_FORMAT = 2;

const Scalar = Type.Union([Type.String({ maxLength: 2000 }), Type.Number(), Type.Boolean(), Type.Null()]);

export const UpgradeRecord = Type.Object({
  formatVersion: Type.Literal(JOURNAL_FORMAT),
  taskId: Id,
  version: Version,
  location: Type.String({ minLength: 1, maxLength: 4096 }),
  mode: Type.Union(UPGRADE_MODES.map((m) => Type.Literal(m))),
  allowDowngrade: Type.Boolean(),
  state: Type.Union(UPGRADE_STATES.map((s) => Type.Literal(s))),
  slot: Type.Union([Slot, Type.Null()]),
  payloadSha256: Type.Union([Type.String(), Type.Null()]),
  /** The boot in which the trial was armed: another boot id means the reboot happened. */
  bootId: Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()]),
  /** How often the current state was resumed (the crash-loop guard's counter). */
  resumes: Type.Integer({ minimum: 0 }),
  /** What the task's result reports besides its status. */
  detail: Type.Record(Type.String({ maxLength: 64 }), Scalar),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  history: Type.Array(Type.Object({ state: Type.String(), at: Timestamp }), { maxItems: 100 }),
  updatedAt: Timestamp,
}, { additionalProperties: false });
export type UpgradeRecord = Static<typeof UpgradeRecord>;
export const validateRecord = compile(UpgradeRecord);

/** Format 1 spelt its states in kebab-case (protocol 1). */
const STATES_V1 = ['idle', 'downloading', 'verified', 'installing', 'boot-configured', 'rebooting', 'trial', 'committed', 'rolling-back', 'rolled-back', 'failed'] as const;

/** Format 1: today's record without the fields format 2 added, its states in kebab-case. */
const RecordV1 = Type.Composite([
  Type.Omit(UpgradeRecord, ['formatVersion', 'bootId', 'resumes', 'detail', 'state']),
  Type.Object({ state: Type.Union(STATES_V1.map((s) => Type.Literal(s))) }),
], { additionalProperties: false });
const validateV1 = compile(RecordV1);

/** Version 1's second record: the trial an upgrade armed before its reboot. */
export const PendingBootV1 = Type.Object({
  taskId: Id,
  slot: Slot,
  version: Version,
  bootId: Type.String({ minLength: 1, maxLength: 128 }),
  arrangedAt: Timestamp,
}, { additionalProperties: false });
export type PendingBootV1 = Static<typeof PendingBootV1>;
const validatePending = compile(PendingBootV1);

/**
 * Today's record from what an older agent left (pure): its journal and its pending-boot record,
 * either of which may be missing or damaged. An appliance in the middle of an upgrade when its
 * agent is updated must finish it, so a pending trial wins over the journal's `rebooting` state
 * of the same task (it adds the boot id that armed it) and over a record of another task that is
 * older than it; a pending record older than the journal is stale and dropped.
 */
export function migrateJournal(raw: unknown, rawPending: unknown): UpgradeRecord | null {
  const current = validateRecord(raw);
  const v1 = current.ok ? null : validateV1(raw);
  const old: UpgradeRecord | null = current.ok ? current.value : v1?.ok ? fromFormat1(v1.value) : null;
  const pending = validatePending(rawPending);
  const trial = pending.ok ? pending.value : null;
  if (!trial) return old;
  const sameTask = old?.taskId === trial.taskId;
  const trialWins = !old || (sameTask ? old.state === 'rebooting' : Date.parse(trial.arrangedAt) >= Date.parse(old.updatedAt));
  if (!trialWins) return sameTask && old.bootId === null ? { ...old, bootId: trial.bootId } : old;
  const base = sameTask ? old : null;
  return {
    formatVersion: JOURNAL_FORMAT,
    taskId: trial.taskId,
    version: trial.version,
    location: base?.location ?? 'pending-boot.json',
    mode: base?.mode ?? 'install-reboot',
    allowDowngrade: base?.allowDowngrade ?? false,
    state: 'rebooting',
    slot: trial.slot,
    payloadSha256: base?.payloadSha256 ?? null,
    bootId: trial.bootId,
    resumes: 0,
    detail: {},
    error: null,
    history: [...(base?.history ?? []), { state: 'rebooting', at: trial.arrangedAt }].slice(-100),
    updatedAt: trial.arrangedAt,
  };
}

function fromFormat1(r: Static<typeof RecordV1>): UpgradeRecord {
  return {
    formatVersion: JOURNAL_FORMAT,
    ...r,
    state: fromProtocol1(r.state) as UpgradeState,
    history: r.history.map((h) => ({ ...h, state: fromProtocol1(h.state) })),
    bootId: null,
    resumes: 0,
    detail: {},
  };
}
