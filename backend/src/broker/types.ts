export interface BrokerStatus {
  status: 'up' | 'down';
  mode: 'embedded' | 'external';
  url: string;
  clients?: number;
  error?: string;
}

/** What the backend needs of an MQTT broker: publish a task QoS 1, drop revoked sessions, report health, close. */
export interface TaskBroker {
  /** Where appliances that log in with their token connect (the only URL of an external broker). */
  readonly url: string;
  /** Where appliances that log in with their client certificate connect (mTLS), if this broker takes certificates. */
  readonly certificateUrl?: string;
  publish(topic: string, payload: Buffer): Promise<void>;
  /**
   * Closes the live sessions of an appliance that were opened with a credential not in `keep`
   * (all of them when it is empty): after a token refresh, a certificate rotation, a revocation
   * or a decommission. Returns how many were closed. An external broker cannot be told (its own
   * credentials are revoked where it keeps them: AWS IoT Core's certificates); it returns 0.
   */
  dropSessions(applianceId: string, keep: readonly string[]): number;
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

/**
 * Checks a client certificate the TLS handshake already verified against the CA: the credential
 * if it is one the appliance's record names (its current one, or the previous one until a
 * rotation completes), else null (retired, revoked, or the appliance decommissioned).
 */
export type ApplianceCertificateCheck = (applianceId: string, certificateId: string) => Promise<ApplianceCredential | null>;
