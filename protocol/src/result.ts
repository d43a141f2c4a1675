import { Type, type Static } from '@sinclair/typebox';
import { Text } from './common.js';

export const TASK_RESULT_STATUSES = ['accepted', 'running', 'succeeded', 'failed', 'rejected'] as const;
export type TaskResultStatus = (typeof TASK_RESULT_STATUSES)[number];

export const TaskError = Type.Object(
  {
    code: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' }),
    message: Text,
  },
  { additionalProperties: false },
);
export type TaskError = Static<typeof TaskError>;

export const TaskProgress = Type.Object(
  {
    phase: Type.Optional(Type.String({ maxLength: 64 })),
    percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    totalBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    rateBytesPerSecond: Type.Optional(Type.Number({ minimum: 0 })),
    etaSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type TaskProgress = Static<typeof TaskProgress>;

/** Free-form detail, bounded: at most 64 keys of short scalar values. */
export const TaskDetail = Type.Record(
  Type.String({ maxLength: 64 }),
  Type.Union([Type.String({ maxLength: 4096 }), Type.Number(), Type.Boolean(), Type.Null()]),
  { maxProperties: 64 },
);

const base = {
  progress: Type.Optional(TaskProgress),
  detail: Type.Optional(TaskDetail),
  /** When the agent recorded this status; lets the backend ignore out-of-order results. */
  at: Type.Optional(Type.String({ format: 'date-time', maxLength: 64 })),
  /** Monotonic per task on the agent: a result with a lower seq than one already stored is stale. */
  seq: Type.Optional(Type.Integer({ minimum: 0 })),
  /** The wire protocol the agent speaks (absent: 1). See PROTOCOL_VERSION. */
  protocolVersion: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
};

/** `failed` and `rejected` must say why; the other statuses may not carry an error. */
export const TaskResult = Type.Union([
  Type.Object(
    { status: Type.Union([Type.Literal('accepted'), Type.Literal('running'), Type.Literal('succeeded')]), ...base },
    { additionalProperties: false },
  ),
  Type.Object(
    { status: Type.Union([Type.Literal('failed'), Type.Literal('rejected')]), error: TaskError, ...base },
    { additionalProperties: false },
  ),
]);
export type TaskResult = Static<typeof TaskResult>;
