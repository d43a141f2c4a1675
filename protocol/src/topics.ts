import { ID_PATTERN } from './common.js';
import { MAX_ID_LENGTH } from './limits.js';

const TASK_TOPIC_PREFIX = 'twinroot/appliances/';
const TASK_TOPIC_SUFFIX = '/tasks';
const idRe = new RegExp(ID_PATTERN);

export function isValidApplianceId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && idRe.test(id);
}

/** The topic the backend publishes an appliance's tasks to (and the only one it may subscribe to). */
export function taskTopic(applianceId: string): string {
  if (!isValidApplianceId(applianceId)) throw new Error(`invalid appliance id for a topic: ${JSON.stringify(applianceId)}`);
  return `${TASK_TOPIC_PREFIX}${applianceId}${TASK_TOPIC_SUFFIX}`;
}

/** The appliance id in a task topic, or null when the topic is not exactly one appliance's task topic. */
export function applianceIdFromTaskTopic(topic: string): string | null {
  if (!topic.startsWith(TASK_TOPIC_PREFIX) || !topic.endsWith(TASK_TOPIC_SUFFIX)) return null;
  const id = topic.slice(TASK_TOPIC_PREFIX.length, topic.length - TASK_TOPIC_SUFFIX.length);
  return isValidApplianceId(id) ? id : null;
}
