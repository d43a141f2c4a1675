export interface BrokerStatus {
  status: 'up' | 'down';
  mode: 'embedded' | 'external';
  url: string;
  clients?: number;
  error?: string;
}

/** What the backend needs of an MQTT broker: publish a task QoS 1, drop revoked sessions, report health, close. */
export interface TaskBroker {
  readonly url: string;
  publish(topic: string, payload: Buffer): Promise<void>;
  /**
   * Closes the live sessions of an appliance that were opened with a credential other than
   * `keepCredential` (all of them when it is null): after a token refresh, a revocation or a
   * decommission. Returns how many were closed. An external broker cannot be told (its own
   * credentials are revoked where it keeps them); it returns 0.
   */
  dropSessions(applianceId: string, keepCredential: string | null): number;
  status(): BrokerStatus;
  close(): Promise<void>;
}

/** The credential an MQTT login presented is valid: its fingerprint (token hash) and expiry. */
export interface ApplianceCredential {
  fingerprint: string;
  expiresAtMs: number;
}

/**
 * Checks an appliance's MQTT credentials (username = appliance id, password = appliance token):
 * the credential if it is the appliance's current, unexpired one, else null.
 */
export type ApplianceCredentialCheck = (applianceId: string, token: string) => Promise<ApplianceCredential | null>;
