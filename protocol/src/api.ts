import { Type, type Static } from '@sinclair/typebox';
import { HttpUrl, Id, Name, PLAIN_TEXT_PATTERN, ServiceCode, Sha256Hex, Slot, Text, Timestamp, Version } from './common.js';
import { TASK_TYPES, UPGRADE_MODES } from './task.js';
import { TaskError, TaskProgress } from './result.js';
import { ServiceStatus } from './heartbeat.js';

// Schemas of the backend's HTTP API beyond the device messages: the operator API and its
// answers. The backend validates with them and publishes them as OpenAPI; CLIs and the console
// use the same types.

const strict = { additionalProperties: false } as const;

/** Regions are short lower-case codes ("eu-west-1", "cn-north"). */
export const Region = Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' });

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export const Weekday = Type.Union(WEEKDAYS.map((d) => Type.Literal(d)));

/** Weekly maintenance windows in the customer's own time zone (IANA name, e.g. "Asia/Tokyo"). */
export const MaintenanceWindow = Type.Object(
  {
    timeZone: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_+/-]+$' }),
    windows: Type.Array(
      Type.Object(
        {
          day: Weekday,
          start: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }),
          durationMinutes: Type.Integer({ minimum: 15, maximum: 24 * 60 }),
        },
        strict,
      ),
      { minItems: 1, maxItems: 14 },
    ),
  },
  strict,
);
export type MaintenanceWindow = Static<typeof MaintenanceWindow>;

export const CreateCustomerRequest = Type.Object(
  { name: Name, region: Region, canary: Type.Optional(Type.Boolean()), maintenanceWindow: Type.Optional(MaintenanceWindow) },
  strict,
);
export type CreateCustomerRequest = Static<typeof CreateCustomerRequest>;

export const Customer = Type.Object(
  { customerId: Id, name: Name, region: Region, canary: Type.Boolean(), maintenanceWindow: Type.Optional(MaintenanceWindow), createdAt: Timestamp },
  strict,
);
export type Customer = Static<typeof Customer>;

/** Changes to a customer; `maintenanceWindow: null` removes the window (installs then go out at any time). */
export const UpdateCustomerRequest = Type.Object(
  { canary: Type.Optional(Type.Boolean()), maintenanceWindow: Type.Optional(Type.Union([MaintenanceWindow, Type.Null()])) },
  { ...strict, minProperties: 1 },
);
export type UpdateCustomerRequest = Static<typeof UpdateCustomerRequest>;

export const MAX_REGISTER_TOKEN_USES = 1_000_000;
/** A register token: valid for ttlHours (default a week), for at most maxUses registrations (default: no limit). */
export const RegisterTokenRequest = Type.Object(
  { ttlHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 365 })), maxUses: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_REGISTER_TOKEN_USES })) },
  strict,
);
export type RegisterTokenRequest = Static<typeof RegisterTokenRequest>;
export const RegisterTokenResponse = Type.Object(
  { registerToken: Type.String(), tokenId: Id, expiresAt: Timestamp, maxUses: Type.Optional(Type.Integer({ minimum: 1 })) },
  strict,
);
/** What the operator sees of an issued register token (never the token itself). */
export const RegisterTokenInfo = Type.Object(
  {
    tokenId: Id,
    customerId: Id,
    expiresAt: Timestamp,
    maxUses: Type.Optional(Type.Integer({ minimum: 1 })),
    uses: Type.Integer({ minimum: 0 }),
    revokedAt: Type.Optional(Timestamp),
    createdAt: Timestamp,
  },
  strict,
);
export type RegisterTokenInfo = Static<typeof RegisterTokenInfo>;

export const APPLIANCE_STATUSES = ['connected', 'disconnected', 'upgrading', 'rolled_back'] as const;
export type ApplianceStatus = (typeof APPLIANCE_STATUSES)[number];

/** Appliance counts for the console: by status, by version, by region (optionally of one customer or region). */
export const FleetSummary = Type.Object(
  {
    appliances: Type.Integer({ minimum: 0 }),
    byStatus: Type.Object(Object.fromEntries(APPLIANCE_STATUSES.map((s) => [s, Type.Integer({ minimum: 0 })])) as Record<ApplianceStatus, ReturnType<typeof Type.Integer>>, strict),
    byVersion: Type.Array(Type.Object({ version: Type.String(), count: Type.Integer({ minimum: 0 }) }, strict)),
    byRegion: Type.Array(Type.Object({ region: Type.String(), count: Type.Integer({ minimum: 0 }) }, strict)),
  },
  strict,
);
export type FleetSummary = Static<typeof FleetSummary>;
export const FleetSummaryQuery = Type.Object({ region: Type.Optional(Region), customerId: Type.Optional(Id) }, strict);

/** A service to install (and re-install after each upgrade): the bundle and its signed manifest. */
export const DesiredService = Type.Object({ serviceCode: ServiceCode, version: Version, bundleUrl: HttpUrl, manifestUrl: HttpUrl, sha256: Type.Optional(Sha256Hex) }, strict);
export type DesiredService = Static<typeof DesiredService>;

export const Appliance = Type.Object(
  {
    applianceId: Id,
    customerId: Id,
    region: Region,
    status: Type.Union(APPLIANCE_STATUSES.map((s) => Type.Literal(s))),
    hostname: Name,
    ip: Type.String(),
    cpu: Type.String(),
    memoryMb: Type.Integer(),
    version: Version,
    bootedSlot: Slot,
    committedSlot: Slot,
    trial: Type.Boolean(),
    registeredAt: Timestamp,
    lastSeenAt: Timestamp,
    disconnectedAt: Type.Optional(Timestamp),
    services: Type.Array(ServiceStatus),
    desiredServices: Type.Array(DesiredService),
    upgrade: Type.Optional(Type.Object({ taskId: Id, version: Version, releaseId: Id, mode: Type.String() })),
    lastUpgrade: Type.Optional(Type.Object({ taskId: Id, version: Version, at: Timestamp })),
    rollback: Type.Optional(Type.Object({ detectedAt: Timestamp, fromVersion: Version, toVersion: Version, taskId: Type.Optional(Id) })),
    currentTask: Type.Optional(Type.Object({ taskId: Id, taskType: Type.String(), status: Type.String() })),
    /** The last heartbeats' times, newest first (routine heartbeat pings are not stored as tasks). */
    recentHeartbeats: Type.Optional(Type.Array(Timestamp, { maxItems: 50 })),
    /** The MQTT client certificate the appliance logs in with (and, during a rotation, the one it replaces). */
    certificate: Type.Optional(Type.Object({ certificateId: Type.String(), expiresAt: Timestamp, previousCertificateId: Type.Optional(Type.String()) })),
  },
  strict,
);
export type Appliance = Static<typeof Appliance>;

/** A list's page size when the request names none. */
export const PAGE_LIMIT_DEFAULT = 100;
/** The `limit` query parameter of every paged list. */
export const PageLimit = Type.Integer({ minimum: 1, maximum: 1000, default: PAGE_LIMIT_DEFAULT });

export const ListAppliancesQuery = Type.Object(
  {
    customerId: Type.Optional(Id),
    region: Type.Optional(Region),
    status: Type.Optional(Type.Union(APPLIANCE_STATUSES.map((s) => Type.Literal(s)))),
    version: Type.Optional(Version),
    limit: Type.Optional(PageLimit),
    nextToken: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  strict,
);
export type ListAppliancesQuery = Static<typeof ListAppliancesQuery>;

export const TASK_STATUSES = ['pending', 'sent', 'accepted', 'running', 'succeeded', 'failed', 'timed_out', 'superseded', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = ['succeeded', 'failed', 'timed_out', 'superseded', 'cancelled'];

export const TaskEvent = Type.Object({ at: Timestamp, status: Type.String(), note: Type.Optional(Text) }, strict);

export const TaskView = Type.Object(
  {
    taskId: Id,
    applianceId: Id,
    taskType: Type.Union(TASK_TYPES.map((t) => Type.Literal(t))),
    status: Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))),
    body: Type.Object({}, { additionalProperties: true }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    expiresAt: Type.Optional(Timestamp),
    attempts: Type.Integer(),
    lastSentAt: Type.Optional(Timestamp),
    verifying: Type.Optional(Type.Boolean()),
    progress: Type.Optional(TaskProgress),
    error: Type.Optional(TaskError),
    detail: Type.Optional(Type.Object({}, { additionalProperties: true })),
    rolledBack: Type.Optional(Type.Object({ at: Timestamp, toVersion: Version })),
    createdBy: Type.String(),
    events: Type.Array(TaskEvent),
  },
  strict,
);
export type TaskView = Static<typeof TaskView>;

/** Task types an operator may send through the generic route; the others have their own routes. */
export const OPERATOR_TASK_TYPES = ['heartbeat', 'collectLogs', 'reboot'] as const;
export const CreateTaskRequest = Type.Object(
  { taskType: Type.Union(OPERATOR_TASK_TYPES.map((t) => Type.Literal(t))), body: Type.Optional(Type.Object({}, { additionalProperties: true })) },
  strict,
);
export const UpgradeRequest = Type.Object(
  {
    releaseId: Id,
    mode: Type.Optional(Type.Union(UPGRADE_MODES.map((m) => Type.Literal(m)))),
    notBefore: Type.Optional(Timestamp),
    /** Installing a version below the committed one is refused on the appliance unless this is set — by a person, with a reason. */
    allowDowngrade: Type.Optional(Type.Boolean()),
    /** Why the downgrade is allowed (required with allowDowngrade); recorded in the task's timeline. */
    downgradeReason: Type.Optional(Type.String({ minLength: 3, maxLength: 500, pattern: PLAIN_TEXT_PATTERN })),
  },
  strict,
);
export const RollbackRequest = Type.Object({ reboot: Type.Optional(Type.Boolean()) }, strict);
export const TaskCreated = Type.Object({ taskId: Id, status: Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))) }, strict);

/**
 * Where an appliance PUTs its diagnostic bundle, asked for with the bundle's size: with an S3
 * artifact store a presigned S3 PUT whose signature covers that size (S3 refuses any other
 * length), in embedded mode the backend's own upload URL. `headers` must be sent as given.
 */
export const LogUploadTargetRequest = Type.Object({ bytes: Type.Integer({ minimum: 1 }) }, strict);
export const LogUploadTarget = Type.Object(
  { method: Type.Literal('PUT'), url: HttpUrl, headers: Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 })), expiresAt: Timestamp },
  strict,
);
export type LogUploadTarget = Static<typeof LogUploadTarget>;

export const ApiError = Type.Object(
  { statusCode: Type.Integer(), error: Type.String(), code: Type.Optional(Type.String()), message: Type.String() },
  { additionalProperties: true },
);

export const Page = <T extends import('@sinclair/typebox').TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextToken: Type.Optional(Type.String()) }, strict);

/** GET /v1/error-codes: the error catalogue (protocol/src/errors.ts) for consoles and API clients. */
export const ErrorCatalogue = Type.Object({
  items: Type.Array(Type.Object({
    code: Type.String(),
    meaning: Type.String(),
    retryable: Type.Boolean(),
    raisedBy: Type.Union([Type.Literal('agent'), Type.Literal('backend'), Type.Literal('protocol'), Type.Literal('tooling'), Type.Literal('console')]),
    scope: Type.Union([Type.Literal('task'), Type.Literal('http'), Type.Literal('internal')]),
    httpStatus: Type.Optional(Type.Integer()),
    rolledBack: Type.Optional(Type.Boolean()),
  }, strict)),
}, strict);
