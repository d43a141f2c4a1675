import { PublishCommand, type IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { withAwsRetry, type RetryPolicy } from '../identity/aws-retry.js';
import type { BrokerStatus, TaskBroker } from './types.js';

/** AWS IoT Core refuses larger messages. */
export const IOT_MAX_MESSAGE_BYTES = 128 * 1024;

/**
 * Publishes tasks through AWS IoT Core's data plane (HTTPS Publish, QoS 1): the backend holds no
 * MQTT connection, so any number of instances can publish. Revocation is done on the certificate
 * (AwsIotIssuer), so there are no sessions to drop here. A publish to an appliance whose
 * persistent session has expired (1 h by default) reaches nobody; the fresh-session resend and
 * the task retry sweep send it again when the appliance is back.
 */
export function iotDataPlaneBroker(opts: { client: IoTDataPlaneClient; endpoint: string; appliancesUrl: string; retry?: RetryPolicy }): TaskBroker {
  let lastError: string | undefined;
  const retry = opts.retry ?? { attempts: 4, baseMs: 200 };
  return {
    url: opts.appliancesUrl,
    async publish(topic, payload) {
      if (payload.length > IOT_MAX_MESSAGE_BYTES) throw new Error(`task message of ${payload.length} bytes is larger than AWS IoT Core's ${IOT_MAX_MESSAGE_BYTES}-byte limit`);
      try {
        // Publishing a task twice is harmless (the agent drops a taskId it has seen), so a timeout is retried too.
        await withAwsRetry(() => opts.client.send(new PublishCommand({ topic, qos: 1, payload })), { idempotent: true, policy: retry });
        lastError = undefined;
      } catch (err) {
        lastError = `${(err as Error).name}: ${(err as Error).message}`;
        throw err;
      }
    },
    dropSessions: () => 0,
    status(): BrokerStatus {
      return { status: lastError ? 'down' : 'up', mode: 'external', url: `https://${opts.endpoint}`, ...(lastError ? { error: lastError } : {}) };
    },
    async close() {
      opts.client.destroy();
    },
  };
}
