import { applianceIdFromTaskTopic } from '@twinroot/protocol';

/** Who is on the other end of an MQTT connection. */
export type Principal = { kind: 'appliance'; applianceId: string };

/**
 * The broker's authorization rules, pure so they can be tested alone:
 * an appliance may subscribe to its own task topic only and may publish nothing
 * (results and heartbeats go over HTTPS, where they are validated and authorized).
 */
export function canSubscribe(p: Principal, topic: string): boolean {
  return applianceIdFromTaskTopic(topic) === p.applianceId;
}

export function canPublish(_p: Principal, _topic: string): boolean {
  return false;
}

/** The MQTT client id must be the appliance id, so one appliance cannot take over another's session. */
export function clientIdMatches(clientId: string, username: string): boolean {
  return clientId === username;
}
