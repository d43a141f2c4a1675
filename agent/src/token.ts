import cron from 'node-cron';
import type { BackendClient } from './backend/client.js';
import { readIdentity, writeIdentity, type Identity } from './state/identity.js';
import { installCertificate, newKeyAndCsr, removeUnusedCertificateFiles } from './mqtt/client-certificate.js';

export const REFRESH_BEFORE_MS = 10 * 24 * 3600 * 1000;

/** Pure: refresh when the token (or the client certificate) expires within 10 days (or already has). */
export function needsRefresh(expiresAt: string, now: Date, beforeMs = REFRESH_BEFORE_MS): boolean {
  return Date.parse(expiresAt) - now.getTime() <= beforeMs;
}

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

/**
 * Checks the token and the client certificate, refreshing both 10 days before either expires: a
 * new token, and (with a certificate) a new key pair and CSR for a new certificate. identity.json
 * is the commit point: until it names the new files, the old key and certificate are the ones in
 * use, and a crash in between leaves only an unused key behind (deleted at the next refresh).
 */
export async function refreshTokenIfDue(deps: { stateDir: string; backend: BackendClient; log: Logger; now?: () => Date; onRefreshed?: (id: Identity, certificateRenewed: boolean) => void }): Promise<boolean> {
  const id = readIdentity(deps.stateDir);
  const now = deps.now?.() ?? new Date();
  if (!id) return false;
  const renewCertificate = !!id.certificate && needsRefresh(id.certificate.expiresAt, now);
  if (!renewCertificate && !needsRefresh(id.tokenExpiresAt, now)) return false;
  const fresh = renewCertificate ? await newKeyAndCsr(deps.stateDir) : null;
  try {
    const res = await deps.backend.refreshToken(id.applianceId, fresh?.csrPem);
    let next: Identity = { ...id, applianceToken: res.applianceToken, tokenExpiresAt: res.tokenExpiresAt };
    if (fresh && res.certificate) {
      next = { ...next, ...(res.mqtt ? { mqtt: res.mqtt } : {}), certificate: installCertificate(deps.stateDir, fresh.keyFile, res.certificate, res.mqtt?.caPem) };
    }
    writeIdentity(deps.stateDir, next);
    deps.onRefreshed?.(next, !!(fresh && res.certificate));
    deps.log.info({ tokenExpiresAt: res.tokenExpiresAt, ...(next.certificate ? { certificateId: next.certificate.certificateId, certificateExpiresAt: next.certificate.expiresAt } : {}) }, fresh && res.certificate ? 'appliance token and certificate renewed' : 'appliance token refreshed');
    return true;
  } finally {
    const kept = readIdentity(deps.stateDir);
    if (fresh) removeUnusedCertificateFiles(deps.stateDir, [kept?.certificate?.keyFile, kept?.certificate?.certFile]);
  }
}

export function scheduleTokenRefresh(deps: Parameters<typeof refreshTokenIfDue>[0], schedule = '17 3 * * *'): { stop(): void } {
  const run = () => refreshTokenIfDue(deps).catch((err: Error) => deps.log.warn({ err: err.message }, 'token refresh failed; will try again tomorrow'));
  void run();
  const task = cron.schedule(schedule, run, { noOverlap: true });
  return { stop: () => void task.stop() };
}
