import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { IssuedCertificate } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';

/** The files of the appliance's MQTT client identity, as identity.json names them. */
export interface CertificateFiles {
  certificateId: string;
  expiresAt: string;
  certFile: string;
  keyFile: string;
  /** The broker's CA when the backend named one (the embedded broker's); absent: the configured or system trust. */
  caFile?: string;
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const FILE_RE = /^mqtt-(key|cert)-[0-9a-f]{16}\.pem$/;

/**
 * A new ECDSA P-256 key pair, its private key written (0600) to the state directory, and a
 * PKCS#10 request signed with it. The key never leaves the appliance; the CSR's subject is only
 * a placeholder (the issuer names the certificate after the appliance id).
 */
export async function newKeyAndCsr(stateDir: string): Promise<{ keyFile: string; csrPem: string }> {
  // @peculiar/x509 is loaded only here (registration and the daily refresh), not at agent start.
  await import('reflect-metadata');
  const loaded = await import('@peculiar/x509');
  // A CommonJS module: its exports are the namespace under node, its `default` inside the bundle.
  const x509 = 'cryptoProvider' in loaded ? loaded : (loaded as unknown as { default: typeof loaded }).default;
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyFile = join(stateDir, `mqtt-key-${randomBytes(8).toString('hex')}.pem`);
  writeFileAtomic(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), EC_P256, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), EC_P256, true, ['verify']),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=twinroot-appliance', keys: keys as never, signingAlgorithm: EC_P256 });
  return { keyFile, csrPem: csr.toString('pem') + '\n' };
}

/**
 * Writes the issued certificate beside its key (and the broker CA, when given). The certificate
 * must be for that key: a mismatch is refused before anything points at it. Its id is the
 * issuer's (the embedded CA's is the DER's SHA-256; AWS IoT Core's is its own 64 hex digits).
 */
export function installCertificate(stateDir: string, keyFile: string, issued: IssuedCertificate, caPem?: string): CertificateFiles {
  const cert = new X509Certificate(issued.certificatePem);
  if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) throw new Error('the issued certificate is not for the key this appliance generated');
  const sha = createHash('sha256').update(cert.raw).digest('hex');
  const certFile = join(stateDir, `mqtt-cert-${sha.slice(0, 16)}.pem`);
  writeFileAtomic(certFile, issued.certificatePem, 0o644);
  let caFile: string | undefined;
  if (caPem) {
    caFile = join(stateDir, `mqtt-ca.pem`);
    writeFileAtomic(caFile, caPem, 0o644);
  }
  return { certificateId: issued.certificateId, expiresAt: issued.expiresAt, certFile, keyFile, ...(caFile ? { caFile } : {}) };
}

/** Deletes key and certificate files that identity.json no longer names (after a rotation, or a failed attempt). */
export function removeUnusedCertificateFiles(stateDir: string, keep: (string | undefined)[]): void {
  for (const f of readdirSync(stateDir)) {
    if (!FILE_RE.test(f) || keep.includes(join(stateDir, f))) continue;
    try {
      unlinkSync(join(stateDir, f));
    } catch {
      // gone already
    }
  }
}
