import { MAX_TASK_MESSAGE_BYTES } from './limits.js';
import { ID_PATTERN } from './common.js';
import { TaskEnvelope, TASK_BODY_SCHEMAS, type TaskMessage, type TaskType } from './task.js';
import { compile } from './validate.js';

export type DecodedTask =
  | { ok: true; task: TaskMessage }
  /** taskId is set when the message carried a readable one, so the agent can report `rejected`. */
  | { ok: false; reason: string; code: 'too_large' | 'not_json' | 'invalid' | 'unknown_task_type'; taskId?: string };

const validateEnvelope = compile(TaskEnvelope);
const validateBody = Object.fromEntries(
  Object.entries(TASK_BODY_SCHEMAS).map(([k, s]) => [k, compile(s)]),
) as Record<TaskType, (v: unknown) => { ok: true } | { ok: false; error: string }>;
const idRe = new RegExp(ID_PATTERN);

function readableTaskId(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const id = (v as { taskId?: unknown }).taskId;
  return typeof id === 'string' && id.length <= 128 && idRe.test(id) ? id : undefined;
}

/** Turns raw MQTT payload bytes into a validated task, or a reason it is not one. Never throws. */
export function decodeTaskMessage(payload: Uint8Array): DecodedTask {
  if (payload.byteLength > MAX_TASK_MESSAGE_BYTES) {
    return { ok: false, code: 'too_large', reason: `message is ${payload.byteLength} bytes, over the ${MAX_TASK_MESSAGE_BYTES}-byte limit` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (err) {
    return { ok: false, code: 'not_json', reason: `not UTF-8 JSON: ${(err as Error).message.slice(0, 200)}` };
  }
  const taskId = readableTaskId(parsed);
  const withId = taskId === undefined ? {} : { taskId };
  const type = (parsed as { taskType?: unknown } | null)?.taskType;
  if (typeof type === 'string' && !Object.hasOwn(TASK_BODY_SCHEMAS, type)) {
    return { ok: false, code: 'unknown_task_type', reason: `unknown taskType ${JSON.stringify(type.slice(0, 64))}`, ...withId };
  }
  const env = validateEnvelope(parsed);
  if (!env.ok) return { ok: false, code: 'invalid', reason: env.error, ...withId };
  const body = validateBody[env.value.taskType](env.value.body);
  if (!body.ok) return { ok: false, code: 'invalid', reason: body.error.replace(/^(\(root\)|)/, (m) => (m === '(root)' ? 'body' : 'body.')), ...withId };
  return { ok: true, task: parsed as TaskMessage };
}
