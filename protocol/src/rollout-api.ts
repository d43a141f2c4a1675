import { Type, type Static } from '@sinclair/typebox';
import { HttpUrl, Id, Sha256Hex, Text, Timestamp, Version } from './common.js';
import { UPGRADE_MODES } from './task.js';
import { Region } from './api.js';

// Operator API for releases (signed packages the backend knows) and staged rollouts.

const strict = { additionalProperties: false } as const;

/** A registered release: a signed package whose manifest the backend verified. */
export const Release = Type.Object(
  {
    releaseId: Id,
    version: Version,
    compatible: Type.String(),
    manifestUrl: HttpUrl,
    payloadSize: Type.Integer({ minimum: 0 }),
    payloadSha256: Sha256Hex,
    /** Where the three files live: the backend's artifact store, or a URL given at registration. */
    source: Type.Union([Type.Literal('artifact-store'), Type.Literal('url')]),
    manifestCreatedAt: Timestamp,
    createdAt: Timestamp,
  },
  strict,
);
export type Release = Static<typeof Release>;

/** Registers a package that is already served somewhere (its `.sig` is next to the manifest). */
export const RegisterReleaseByUrl = Type.Object({ manifestUrl: HttpUrl }, strict);

export const ROLLOUT_STATUSES = ['preparing', 'running', 'paused', 'completed', 'aborted'] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
export const STAGE_KINDS = ['canary-first-half', 'canary-second-half', 'first-half', 'second-half'] as const;
export type StageKind = (typeof STAGE_KINDS)[number];
export const STAGE_STATUSES = ['waiting', 'running', 'passed'] as const;
export type StageStatus = (typeof STAGE_STATUSES)[number];

export const CreateRolloutRequest = Type.Object(
  {
    releaseId: Id,
    startAt: Type.Optional(Timestamp),
    regionsOrder: Type.Optional(Type.Array(Region, { minItems: 1, maxItems: 200, uniqueItems: true })),
    canaryCustomers: Type.Optional(Type.Array(Id, { maxItems: 1000, uniqueItems: true })),
    successThreshold: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
    errorThreshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    stageTimeoutMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 24 * 60 })),
    preDownloadWindowHours: Type.Optional(Type.Number({ minimum: 0, maximum: 14 * 24 })),
    mode: Type.Optional(Type.Union(UPGRADE_MODES.map((m) => Type.Literal(m)))),
  },
  strict,
);
export type CreateRolloutRequest = Static<typeof CreateRolloutRequest>;

export const StageCounts = Type.Object(
  {
    appliances: Type.Integer(),
    pending: Type.Integer(),
    downloading: Type.Integer(),
    downloaded: Type.Integer(),
    inProgress: Type.Integer(),
    succeeded: Type.Integer(),
    failed: Type.Integer(),
    rolledBack: Type.Integer(),
    cancelled: Type.Integer(),
  },
  strict,
);
export type StageCounts = Static<typeof StageCounts>;

export const RolloutStage = Type.Object(
  {
    index: Type.Integer(),
    region: Region,
    kind: Type.Union(STAGE_KINDS.map((k) => Type.Literal(k))),
    status: Type.Union(STAGE_STATUSES.map((s) => Type.Literal(s))),
    customers: Type.Integer(),
    counts: StageCounts,
    preDownloadFrom: Timestamp,
    plannedStartAt: Timestamp,
    startedAt: Type.Optional(Timestamp),
    passedAt: Type.Optional(Timestamp),
  },
  strict,
);
export type RolloutStage = Static<typeof RolloutStage>;

export const RolloutPolicy = Type.Object(
  {
    startAt: Timestamp,
    regionsOrder: Type.Optional(Type.Array(Region)),
    canaryCustomers: Type.Optional(Type.Array(Id)),
    successThreshold: Type.Number(),
    errorThreshold: Type.Number(),
    stageTimeoutMinutes: Type.Integer(),
    preDownloadWindowHours: Type.Number(),
    mode: Type.Union(UPGRADE_MODES.map((m) => Type.Literal(m))),
  },
  strict,
);
export type RolloutPolicy = Static<typeof RolloutPolicy>;

export const RolloutView = Type.Object(
  {
    rolloutId: Id,
    releaseId: Id,
    version: Version,
    status: Type.Union(ROLLOUT_STATUSES.map((s) => Type.Literal(s))),
    /** Why it is paused: "operator", or "error threshold: …" with the numbers. */
    pausedReason: Type.Optional(Text),
    policy: RolloutPolicy,
    stages: Type.Array(RolloutStage),
    totals: StageCounts,
    /** The background preparation (reading the fleet, writing one target per appliance): progress while `preparing`, duration after. */
    preparation: Type.Optional(
      Type.Object(
        {
          written: Type.Integer({ minimum: 0 }),
          total: Type.Optional(Type.Integer({ minimum: 0 })),
          attempts: Type.Integer({ minimum: 0 }),
          startedAt: Timestamp,
          finishedAt: Type.Optional(Timestamp),
          durationMs: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        strict,
      ),
    ),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    completedAt: Type.Optional(Timestamp),
  },
  strict,
);
export type RolloutView = Static<typeof RolloutView>;

export const RolloutSummary = Type.Object(
  {
    rolloutId: Id,
    releaseId: Id,
    version: Version,
    status: Type.Union(ROLLOUT_STATUSES.map((s) => Type.Literal(s))),
    pausedReason: Type.Optional(Text),
    stages: Type.Integer(),
    currentStage: Type.Optional(Type.Integer()),
    totals: StageCounts,
    createdAt: Timestamp,
  },
  strict,
);
export type RolloutSummary = Static<typeof RolloutSummary>;

/** Where one appliance is in a rollout. */
export const ROLLOUT_TARGET_STATES = ['pending', 'downloading', 'downloaded', 'installing', 'succeeded', 'failed', 'rolled_back', 'cancelled'] as const;
export type RolloutTargetState = (typeof ROLLOUT_TARGET_STATES)[number];

/** GET /v1/rollouts/:id/stages/:index/appliances: one appliance of a stage. */
export const RolloutTarget = Type.Object(
  {
    applianceId: Id,
    customerId: Id,
    stage: Type.Integer({ minimum: 0 }),
    state: Type.Union(ROLLOUT_TARGET_STATES.map((s) => Type.Literal(s))),
    downloadTaskId: Type.Optional(Id),
    installTaskId: Type.Optional(Id),
    note: Type.Optional(Text),
    updatedAt: Timestamp,
  },
  strict,
);
export type RolloutTarget = Static<typeof RolloutTarget>;
