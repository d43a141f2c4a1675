import { readFileSync } from 'node:fs';

/**
 * The one AWS IoT policy every appliance certificate is attached to (backend/aws/iot-policy.json):
 * connect only with its own thing's name as client id (and only while the certificate is attached
 * to that thing), subscribe to and receive only its own task topic, publish nothing (results and
 * heartbeats go over HTTPS).
 */
export const IOT_POLICY_FILE = new URL('../../aws/iot-policy.json', import.meta.url);

export function iotPolicyDocument(): string {
  return readFileSync(IOT_POLICY_FILE, 'utf8');
}
