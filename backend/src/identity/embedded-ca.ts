import { createHash, randomBytes, webcrypto, X509Certificate, createPrivateKey } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { IssuedCertificate } from '@twinroot/protocol';
import type { CertificateIssuer, CertificateSubject, Issued } from './issuer.js';
import { EC_P256, x509 } from './x509.js';

const DAY_MS = 86400_000;
/** The CA outlives every certificate it signs by far; re-keying it means re-registering the fleet. */
const CA_VALIDITY_DAYS = 20 * 365;
/** Certificates are valid from a little before now, so a client whose clock is slightly behind accepts them. */
const BACKDATE_MS = 5 * 60_000;

/** The embedded CA's certificate id: SHA-256 of the DER, lowercase hex (the shape of AWS IoT Core's certificateId). */
export function certificateIdOf(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** A positive 128-bit serial number (RFC 5280: at most 20 octets, non-negative). */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  return b.toString('hex');
}

/** Written whole or not at all (a power cut while generating the CA leaves no half key). */
function writeFileAtomicSync(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/**
 * The embedded CA: from the configured files, else generated once into dataDir/ca (key 0600).
 * Several instances sharing one CA must be given the files (or share dataDir).
 */
export async function loadOrCreateCa(opts: { dataDir: string; certFile?: string; keyFile?: string; now?: number }): Promise<CaMaterial> {
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile) throw new Error('the embedded CA needs both caCertFile and caKeyFile (or neither: generated in dataDir/ca)');
    const m = { certPem: readFileSync(opts.certFile, 'utf8'), keyPem: readFileSync(opts.keyFile, 'utf8') };
    checkCaMaterial(m, opts.certFile);
    return m;
  }
  const dir = join(opts.dataDir, 'ca');
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca-key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const m = { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
    checkCaMaterial(m, certFile);
    return m;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const now = opts.now ?? Date.now();
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=twinroot embedded CA ${randomBytes(4).toString('hex')}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    keys,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
  // The key first: a certificate without its key would be unusable and block regeneration.
  writeFileAtomicSync(keyFile, keyPem, 0o600);
  writeFileAtomicSync(certFile, cert.toString('pem') + '\n', 0o644);
  return { certPem: cert.toString('pem') + '\n', keyPem };
}

function checkCaMaterial(m: CaMaterial, where: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(m.certPem);
  } catch (err) {
    throw new Error(`${where}: not a PEM certificate (${(err as Error).message})`);
  }
  if (!cert.ca) throw new Error(`${where}: the certificate is not a CA (basicConstraints cA is not set)`);
  if (!cert.checkPrivateKey(createPrivateKey(m.keyPem))) throw new Error(`${where}: the CA key does not belong to the CA certificate`);
}

/** The embedded CA: signs appliances' client certificates and the embedded broker's server certificate. */
export class EmbeddedCa implements CertificateIssuer {
  readonly kind = 'embedded' as const;
  readonly brokerCaPem: string;
  private signingKey: Promise<webcrypto.CryptoKey>;
  private readonly issuerName: string;

  constructor(
    private readonly ca: CaMaterial,
    private readonly opts: { validityDays: number; now?: () => number },
  ) {
    this.brokerCaPem = ca.certPem;
    this.issuerName = new x509.X509Certificate(ca.certPem).subject;
    const der = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' });
    this.signingKey = webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign']) as Promise<webcrypto.CryptoKey>;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private async sign(opts: { subject: string; publicKey: x509.PublicKey; validityMs: number; extensions: x509.Extension[] }): Promise<string> {
    const now = this.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: opts.subject,
      issuer: this.issuerName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + opts.validityMs),
      signingKey: await this.signingKey,
      publicKey: opts.publicKey,
      signingAlgorithm: EC_P256,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true), ...opts.extensions],
    });
    return cert.toString('pem') + '\n';
  }

  async issue(subject: CertificateSubject, csrPem: string): Promise<Issued> {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const pem = await this.sign({
      // The appliance id is the certificate's identity: its CN and a URI SAN; the broker reads the CN.
      subject: `CN=${subject.applianceId}, OU=${subject.customerId.replace(/[,+="\\<>;#]/g, '_')}`,
      publicKey: csr.publicKey,
      validityMs: this.opts.validityDays * DAY_MS,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `urn:twinroot:appliance:${subject.applianceId}` }], false),
      ],
    });
    const certificate: IssuedCertificate = { certificateId: certificateIdOf(pem), certificatePem: pem, expiresAt: new Date(new X509Certificate(pem).validTo).toISOString() };
    return { certificate, ref: { certificateId: certificate.certificateId, expiresAt: certificate.expiresAt } };
  }

  /** The embedded broker's own TLS certificate, for the names and addresses appliances reach it by. */
  async brokerServerCertificate(names: string[]): Promise<{ certPem: string; keyPem: string }> {
    const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const sans = [...new Set(names.filter((n) => n !== '' && n !== '0.0.0.0' && n !== '::'))].map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }));
    const certPem = await this.sign({
      subject: `CN=${names[0] ?? 'twinroot-broker'}`,
      publicKey: await x509.PublicKey.create(keys.publicKey),
      validityMs: 365 * DAY_MS,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(sans, false),
      ],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    return { certPem, keyPem: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString() };
  }

  // The embedded broker accepts only the certificates the appliance's record names (current, and
  // the previous one until a rotation completes): dropping one from the record is what retires or
  // revokes it, and the broker closes sessions that used it. Nothing to do at the CA.
  async retire(): Promise<void> {}
  async revoke(): Promise<void> {}
}
