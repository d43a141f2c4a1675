import type { ApplianceStatus, DesiredService, Slot } from '@twinroot/protocol';

/** What the record keeps of an MQTT client certificate (never its PEM). */
export interface CertificateRef {
  certificateId: string;
  expiresAt: string;
  /** AWS IoT Core's ARN of the certificate (the principal attached to the thing). */
  arn?: string;
}

/** An appliance as stored (the appliances table item). */
export interface ApplianceRecord {
  applianceId: string;
  customerId: string;
  region: string;
  hostname: string;
  cpu: string;
  memoryMb: number;
  ip: string;
  version: string;
  bootedSlot: Slot;
  committedSlot: Slot;
  trial: boolean;
  services: { name: string; status: string }[];
  uptimeS?: number;
  tokenHash: string;
  tokenExpiresAt: string;
  /** The client certificate the appliance logs in to MQTT with, when the backend issues certificates. */
  certificate?: CertificateRef;
  /** The certificate a rotation replaces: valid until a heartbeat says the new one is in use, then retired. */
  previousCertificate?: CertificateRef;
  registeredAt: string;
  lastSeenAt: string;
  /** The last heartbeats' times, newest first (routine heartbeat pings are not stored as tasks). */
  recentHeartbeats?: string[];
  connection: 'connected' | 'disconnected';
  disconnectedAt?: string;
  presenceShard?: string;
  presenceDueAt?: string;
  hbShard?: string;
  hbDueAt?: string;
  upgrade?: { taskId: string; version: string; releaseId: string; mode: string };
  lastUpgrade?: { taskId: string; version: string; at: string };
  rollback?: { detectedAt: string; fromVersion: string; toVersion: string; taskId?: string };
  desiredServices?: Record<string, DesiredService>;
  /** Set with the verified upgrade's task id until the recorded services' reinstall tasks are queued. */
  pendingReinstall?: string;
}

/** The one status shown to operators, most pressing first. */
export function applianceStatus(a: Pick<ApplianceRecord, 'connection' | 'upgrade' | 'rollback'>): ApplianceStatus {
  if (a.connection === 'disconnected') return 'disconnected';
  if (a.upgrade) return 'upgrading';
  if (a.rollback) return 'rolled_back';
  return 'connected';
}

/** The same rule as a DynamoDB filter, for listing by status. */
export function statusFilter(status: ApplianceStatus): { expression: string; names: Record<string, string>; values: Record<string, unknown> } {
  const names = { '#c': 'connection', '#u': 'upgrade', '#r': 'rollback' };
  switch (status) {
    case 'disconnected':
      return { expression: '#c = :disc', names: { '#c': 'connection' }, values: { ':disc': 'disconnected' } };
    case 'upgrading':
      return { expression: '#c = :conn AND attribute_exists(#u)', names: { '#c': 'connection', '#u': 'upgrade' }, values: { ':conn': 'connected' } };
    case 'rolled_back':
      return { expression: '#c = :conn AND attribute_not_exists(#u) AND attribute_exists(#r)', names, values: { ':conn': 'connected' } };
    case 'connected':
      return { expression: '#c = :conn AND attribute_not_exists(#u) AND attribute_not_exists(#r)', names, values: { ':conn': 'connected' } };
  }
}

/** Presence: three missed five-minute heartbeats make an appliance disconnected. */
export const HEARTBEAT_INTERVAL_S = 5 * 60;
export const PRESENCE_TIMEOUT_S = 3 * HEARTBEAT_INTERVAL_S;
/** Disconnected appliances still get a heartbeat task, less often, so one that comes back is noticed. */
export const DISCONNECTED_HEARTBEAT_INTERVAL_S = 15 * 60;
