import type { Appliance, Customer, RegisterTokenInfo, Release, TaskView } from '@twinroot/protocol';
import { applianceStatus } from '../domain/appliance-record.js';
import type { CustomerRecord, RegisterTokenRecord, ReleaseRecord, StoredAppliance, StoredTask } from '../store/store.js';

/** What operators see of an appliance (never its token hash or index bookkeeping). */
export function applianceView(a: StoredAppliance, currentTask?: StoredTask): Appliance {
  return {
    applianceId: a.applianceId,
    customerId: a.customerId,
    region: a.region,
    status: applianceStatus(a),
    hostname: a.hostname,
    ip: a.ip,
    cpu: a.cpu,
    memoryMb: a.memoryMb,
    version: a.version,
    bootedSlot: a.bootedSlot,
    committedSlot: a.committedSlot,
    trial: a.trial,
    registeredAt: a.registeredAt,
    lastSeenAt: a.lastSeenAt,
    ...(a.recentHeartbeats ? { recentHeartbeats: a.recentHeartbeats } : {}),
    ...(a.disconnectedAt ? { disconnectedAt: a.disconnectedAt } : {}),
    services: a.services as Appliance['services'],
    desiredServices: Object.values(a.desiredServices ?? {}),
    ...(a.upgrade ? { upgrade: a.upgrade } : {}),
    ...(a.lastUpgrade ? { lastUpgrade: a.lastUpgrade } : {}),
    ...(a.rollback ? { rollback: a.rollback } : {}),
    ...(a.certificate
      ? { certificate: { certificateId: a.certificate.certificateId, expiresAt: a.certificate.expiresAt, ...(a.previousCertificate ? { previousCertificateId: a.previousCertificate.certificateId } : {}) } }
      : {}),
    ...(currentTask ? { currentTask: { taskId: currentTask.taskId, taskType: currentTask.taskType, status: currentTask.status } } : {}),
  };
}

export function taskView(t: StoredTask): TaskView {
  return {
    taskId: t.taskId,
    applianceId: t.ownerId,
    taskType: t.taskType,
    status: t.status,
    body: t.body,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
    ...(t.expiresAt ? { expiresAt: t.expiresAt } : {}),
    attempts: t.attempts,
    ...(t.lastSentAt ? { lastSentAt: t.lastSentAt } : {}),
    ...(t.verifying ? { verifying: true } : {}),
    ...(t.progress ? { progress: t.progress } : {}),
    ...(t.error ? { error: t.error } : {}),
    ...(t.detail ? { detail: t.detail } : {}),
    ...(t.rolledBack ? { rolledBack: t.rolledBack } : {}),
    createdBy: t.createdBy,
    events: t.events,
  };
}

export function customerView(c: CustomerRecord): Customer {
  return {
    customerId: c.customerId,
    name: c.name,
    region: c.region,
    canary: c.canary,
    ...(c.maintenanceWindow ? { maintenanceWindow: c.maintenanceWindow as Customer['maintenanceWindow'] } : {}),
    createdAt: c.createdAt,
  };
}

export function releaseView(r: ReleaseRecord): Release {
  return {
    releaseId: r.releaseId,
    version: r.version,
    compatible: r.compatible ?? '',
    manifestUrl: r.manifestUrl,
    payloadSize: r.payloadSize ?? 0,
    payloadSha256: r.payloadSha256 ?? '0'.repeat(64),
    source: r.source ?? 'url',
    manifestCreatedAt: r.manifestCreatedAt ?? r.createdAt,
    createdAt: r.createdAt,
  };
}

/** A register token's record as the operator API shows it. */
export function registerTokenView(r: RegisterTokenRecord): RegisterTokenInfo {
  return {
    tokenId: r.tokenId,
    customerId: r.customerId,
    expiresAt: r.expiresAt,
    ...(r.maxUses !== undefined ? { maxUses: r.maxUses } : {}),
    uses: r.uses,
    ...(r.revokedAt ? { revokedAt: r.revokedAt } : {}),
    createdAt: r.createdAt,
  };
}
