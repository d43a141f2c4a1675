export interface BrokerStatus {
  status: 'up' | 'down';
  mode: 'embedded' | 'external';
  url: string;
  clients?: number;
  error?: string;
}

/** What the backend needs of an MQTT broker: publish a task QoS 1, report health, close. */
export interface TaskBroker {
  readonly url: string;
  publish(topic: string, payload: Buffer): Promise<void>;
  status(): BrokerStatus;
  close(): Promise<void>;
}

/** Checks an appliance's MQTT credentials (username = appliance id, password = appliance token). */
export type ApplianceCredentialCheck = (applianceId: string, token: string) => Promise<boolean>;
