import { cpus, hostname, networkInterfaces, totalmem } from 'node:os';
import { mkdirSync } from 'node:fs';
import type { RegisterRequest } from '@twinroot/protocol';
import { BackendClient } from './backend/client.js';
import { writeIdentity, type Identity } from './state/identity.js';
import { runningVersion, type SlotStatusSource } from './slots/status.js';

/** The first non-internal IPv4 address (else IPv6), as the backend shows it to operators. */
export function primaryIp(): string {
  const all = Object.values(networkInterfaces()).flatMap((x) => x ?? []);
  const pick = all.find((a) => !a.internal && a.family === 'IPv4') ?? all.find((a) => !a.internal) ?? all[0];
  return pick?.address ?? '127.0.0.1';
}

export async function register(opts: { backendUrl: string; registerToken: string; stateDir: string; slots: SlotStatusSource; hostname?: string }): Promise<Identity> {
  const s = await opts.slots.status();
  const req: RegisterRequest = {
    registerToken: opts.registerToken,
    hostname: (opts.hostname ?? hostname()).slice(0, 253) || 'unknown',
    cpu: (cpus()[0]?.model ?? 'unknown').trim().slice(0, 256) || 'unknown',
    memoryMb: Math.max(1, Math.round(totalmem() / 2 ** 20)),
    ip: primaryIp(),
    version: runningVersion(s),
    slot: s.bootedSlot,
  };
  const res = await new BackendClient(opts.backendUrl, () => null).register(req);
  const identity: Identity = { ...res, backendUrl: opts.backendUrl.replace(/\/+$/, ''), registeredAt: new Date().toISOString() };
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  writeIdentity(opts.stateDir, identity);
  return identity;
}
