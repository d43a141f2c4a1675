import { cpus, hostname, networkInterfaces, totalmem } from 'node:os';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './state/atomic-file.js';
import type { RegisterRequest } from '@twinroot/protocol';
import { BackendClient } from './backend/client.js';
import { readIdentity, writeIdentity, type Identity } from './state/identity.js';
import { runningVersion, type SlotStatusSource } from './slots/status.js';
import { installCertificate, newKeyAndCsr, removeUnusedCertificateFiles } from './mqtt/client-certificate.js';

/** The first non-internal IPv4 address (else IPv6), as the backend shows it to operators. */
export function primaryIp(): string {
  const all = Object.values(networkInterfaces()).flatMap((x) => x ?? []);
  const pick = all.find((a) => !a.internal && a.family === 'IPv4') ?? all.find((a) => !a.internal) ?? all[0];
  return pick?.address ?? '127.0.0.1';
}

/**
 * The key this appliance sends with every attempt of its registration, kept before the first
 * one: a retry after a lost answer (or a crash) gets the same appliance, not a second one.
 */
export function registrationKey(stateDir: string): string {
  const file = join(stateDir, 'registration-key');
  if (existsSync(file)) {
    const k = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9_-]{16,128}$/.test(k)) return k;
  }
  const k = randomBytes(24).toString('base64url');
  writeFileAtomic(file, k + '\n', 0o600);
  return k;
}

export async function register(opts: { backendUrl: string; registerToken: string; stateDir: string; slots: SlotStatusSource; hostname?: string }): Promise<Identity> {
  const s = await opts.slots.status();
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  // Every registration offers a CSR: a backend that issues certificates signs it, one that does not ignores it.
  const { keyFile, csrPem } = await newKeyAndCsr(opts.stateDir);
  const req: RegisterRequest = {
    registerToken: opts.registerToken,
    hostname: (opts.hostname ?? hostname()).slice(0, 253) || 'unknown',
    cpu: (cpus()[0]?.model ?? 'unknown').trim().slice(0, 256) || 'unknown',
    memoryMb: Math.max(1, Math.round(totalmem() / 2 ** 20)),
    ip: primaryIp(),
    version: runningVersion(s),
    slot: s.bootedSlot,
    idempotencyKey: registrationKey(opts.stateDir),
    csr: csrPem,
  };
  let identity: Identity;
  try {
    const { certificate, ...res } = await new BackendClient(opts.backendUrl, () => null).register(req);
    identity = {
      ...res,
      ...(certificate ? { certificate: installCertificate(opts.stateDir, keyFile, certificate, res.mqtt.caPem) } : {}),
      backendUrl: opts.backendUrl.replace(/\/+$/, ''),
      registeredAt: new Date().toISOString(),
    };
    writeIdentity(opts.stateDir, identity);
  } finally {
    // The key (if unused) and any earlier registration's files go; identity.json names what stays.
    const kept = readIdentityQuietly(opts.stateDir);
    removeUnusedCertificateFiles(opts.stateDir, [kept?.certificate?.keyFile, kept?.certificate?.certFile]);
  }
  return identity;
}

function readIdentityQuietly(stateDir: string): Identity | null {
  try {
    return readIdentity(stateDir);
  } catch {
    return null;
  }
}
