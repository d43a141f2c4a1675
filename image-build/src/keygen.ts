import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PRIVATE_KEY_FILE = 'signing.key';
export const PUBLIC_KEY_FILE = 'signing.pub';

/**
 * An Ed25519 key pair in PEM: the private key (PKCS#8, mode 0600) signs releases on the build
 * machine; the public key (SPKI) is pinned on every appliance and in the backend. Never
 * overwrites an existing key: losing a signing key strands a fleet.
 */
export function keygen(outDir: string): { privateKey: string; publicKey: string } {
  mkdirSync(outDir, { recursive: true });
  const privateKey = join(outDir, PRIVATE_KEY_FILE);
  const publicKey = join(outDir, PUBLIC_KEY_FILE);
  for (const f of [privateKey, publicKey]) if (existsSync(f)) throw new Error(`${f} already exists; refusing to overwrite a signing key`);
  const pair = generateKeyPairSync('ed25519');
  writeFileSync(privateKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  writeFileSync(publicKey, pair.publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  return { privateKey, publicKey };
}
