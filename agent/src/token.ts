import cron from 'node-cron';
import type { BackendClient } from './backend/client.js';
import { readIdentity, writeIdentity, type Identity } from './state/identity.js';

export const REFRESH_BEFORE_MS = 10 * 24 * 3600 * 1000;

/** Pure: refresh when the token expires within 10 days (or already has). */
export function needsRefresh(tokenExpiresAt: string, now: Date, beforeMs = REFRESH_BEFORE_MS): boolean {
  return Date.parse(tokenExpiresAt) - now.getTime() <= beforeMs;
}

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

/** Checks the token now and then daily (node-cron), refreshing it 10 days before expiry. */
export async function refreshTokenIfDue(deps: { stateDir: string; backend: BackendClient; log: Logger; now?: () => Date; onRefreshed?: (id: Identity) => void }): Promise<boolean> {
  const id = readIdentity(deps.stateDir);
  if (!id || !needsRefresh(id.tokenExpiresAt, deps.now?.() ?? new Date())) return false;
  const fresh = await deps.backend.refreshToken(id.applianceId);
  const next = { ...id, applianceToken: fresh.applianceToken, tokenExpiresAt: fresh.tokenExpiresAt };
  writeIdentity(deps.stateDir, next);
  deps.onRefreshed?.(next);
  deps.log.info({ tokenExpiresAt: fresh.tokenExpiresAt }, 'appliance token refreshed');
  return true;
}

export function scheduleTokenRefresh(deps: Parameters<typeof refreshTokenIfDue>[0], schedule = '17 3 * * *'): { stop(): void } {
  const run = () => refreshTokenIfDue(deps).catch((err: Error) => deps.log.warn({ err: err.message }, 'token refresh failed; will try again tomorrow'));
  void run();
  const task = cron.schedule(schedule, run, { noOverlap: true });
  return { stop: () => void task.stop() };
}
