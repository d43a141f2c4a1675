import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { HttpUrl, Id, ServiceCode, Sha256Hex, Timestamp, Version } from './common.js';

export const TASK_TYPES = [
  'heartbeat',
  'upgrade',
  'rollback',
  'collectLogs',
  'installService',
  'uninstallService',
  'reboot',
] as const;
export type TaskType = (typeof TASK_TYPES)[number];

/**
 * A routine heartbeat ping: a heartbeat task the backend's sweep publishes without storing it
 * (the heartbeat that answers it is the only record). Its taskId starts with this prefix.
 */
export const HEARTBEAT_PING_PREFIX = 'ping-';
export function isHeartbeatPing(taskId: string): boolean {
  return taskId.startsWith(HEARTBEAT_PING_PREFIX);
}

export const UPGRADE_MODES = ['download', 'install', 'install-reboot'] as const;
export type UpgradeMode = (typeof UPGRADE_MODES)[number];

const strict = { additionalProperties: false } as const;

export const HeartbeatBody = Type.Object({}, strict);
export const UpgradeBody = Type.Object(
  {
    releaseId: Id,
    version: Version,
    manifestUrl: HttpUrl,
    mode: Type.Union(UPGRADE_MODES.map((m) => Type.Literal(m))),
    notBefore: Type.Optional(Timestamp),
    allowDowngrade: Type.Optional(Type.Boolean()),
  },
  strict,
);
export const RollbackBody = Type.Object({ reboot: Type.Optional(Type.Boolean()) }, strict);
export const CollectLogsBody = Type.Object({ uploadUrl: HttpUrl }, strict);
/**
 * installService: the bundle's signed manifest (manifestUrl, its signature at manifestUrl + ".sig")
 * is what the appliance trusts; a task without one is refused (bundle_unsigned). sha256, when
 * given, must agree with the signed manifest.
 */
export const InstallServiceBody = Type.Object(
  { serviceCode: ServiceCode, version: Version, bundleUrl: HttpUrl, manifestUrl: Type.Optional(HttpUrl), sha256: Type.Optional(Sha256Hex) },
  strict,
);
export const UninstallServiceBody = Type.Object({ serviceCode: ServiceCode }, strict);
export const RebootBody = Type.Object(
  { delaySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600 })) },
  strict,
);

/** The body schema of each taskType: the dispatcher validates the body against this. */
export const TASK_BODY_SCHEMAS = {
  heartbeat: HeartbeatBody,
  upgrade: UpgradeBody,
  rollback: RollbackBody,
  collectLogs: CollectLogsBody,
  installService: InstallServiceBody,
  uninstallService: UninstallServiceBody,
  reboot: RebootBody,
} as const satisfies Record<TaskType, TSchema>;

export type TaskBodies = { [K in TaskType]: Static<(typeof TASK_BODY_SCHEMAS)[K]> };

/**
 * The envelope every task message shares. The body is checked separately against
 * TASK_BODY_SCHEMAS[taskType], which gives precise error messages instead of an anyOf soup.
 */
export const TaskEnvelope = Type.Object(
  {
    taskId: Id,
    taskType: Type.Union(TASK_TYPES.map((t) => Type.Literal(t))),
    createdAt: Timestamp,
    expiresAt: Type.Optional(Timestamp),
    body: Type.Object({}, { additionalProperties: true }),
  },
  strict,
);

function variant<K extends TaskType>(taskType: K) {
  return Type.Object(
    {
      taskId: Id,
      taskType: Type.Literal(taskType),
      createdAt: Timestamp,
      expiresAt: Type.Optional(Timestamp),
      body: TASK_BODY_SCHEMAS[taskType],
    },
    strict,
  );
}

/** The full task message as one schema (for documentation and the backend's publisher). */
export const TaskMessage = Type.Union(TASK_TYPES.map((t) => variant(t)));

export type TaskMessageOf<K extends TaskType> = {
  taskId: string;
  taskType: K;
  createdAt: string;
  expiresAt?: string;
  body: TaskBodies[K];
};
export type TaskMessage = { [K in TaskType]: TaskMessageOf<K> }[TaskType];
