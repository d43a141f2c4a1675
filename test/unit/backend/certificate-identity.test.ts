// The pieces of appliance certificate identity that decide things alone: the embedded CA's files,
// CSR checks, the certificate it issues, which credentials a record honours, and which AWS
// errors may be retried.
import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { newKeyAndCsr } from '@twinroot/agent';
import { afterNewCertificate, checkCertificateRequest, DomainError, EmbeddedCa, honouredCertificate, loadOrCreateCa, mayRetry, mqttAuthMethods, mqttCredentials, rotationCompleted } from '@twinroot/backend';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const dir = mkdtempSync(join(tmpdir(), 'twinroot-ca-'));

async function csrWith(kind: 'rsa' | 'ec', size: number | string): Promise<string> {
  const pair = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: size as number }) : generateKeyPairSync('ec', { namedCurve: size as string });
  const alg = kind === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: size === 'secp521r1' ? 'P-521' : size === 'secp384r1' ? 'P-384' : 'P-256', hash: 'SHA-256' };
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pair.privateKey.export({ type: 'pkcs8', format: 'der' }), alg, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', pair.publicKey.export({ type: 'spki', format: 'der' }), alg, true, ['verify']),
  };
  return (await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=whoever', keys: keys as never, signingAlgorithm: alg })).toString('pem');
}

const refusesCsr = async (pem: string, re: RegExp) => assert.rejects(checkCertificateRequest(pem), (e) => e instanceof DomainError && e.code === 'csr_invalid' && re.test(e.message));

test('the embedded CA is generated once into dataDir/ca (key 0600) and reused after a restart', async () => {
  const first = await loadOrCreateCa({ dataDir: dir });
  assert.equal(statSync(join(dir, 'ca', 'ca-key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'ca')).mode & 0o777, 0o700);
  assert.ok(new X509Certificate(first.certPem).ca);
  const again = await loadOrCreateCa({ dataDir: dir });
  assert.equal(again.certPem, first.certPem);
});

test('CA files are checked: both or neither, a CA certificate, and the key that belongs to it', async () => {
  const a = await loadOrCreateCa({ dataDir: join(dir, 'a') });
  const b = await loadOrCreateCa({ dataDir: join(dir, 'b') });
  writeFileSync(join(dir, 'a-cert.pem'), a.certPem);
  writeFileSync(join(dir, 'b-key.pem'), b.keyPem);
  await assert.rejects(loadOrCreateCa({ dataDir: dir, certFile: join(dir, 'a-cert.pem') }), /both caCertFile and caKeyFile/);
  await assert.rejects(loadOrCreateCa({ dataDir: dir, certFile: join(dir, 'a-cert.pem'), keyFile: join(dir, 'b-key.pem') }), /does not belong/);
  const leaf = await new EmbeddedCa(a, { validityDays: 1 }).issue({ applianceId: 'x', customerId: 'c', region: 'r' }, await csrWith('ec', 'prime256v1'));
  writeFileSync(join(dir, 'leaf.pem'), leaf.certificate.certificatePem);
  await assert.rejects(loadOrCreateCa({ dataDir: dir, certFile: join(dir, 'leaf.pem'), keyFile: join(dir, 'b-key.pem') }), /not a CA/);
});

test('a CSR must parse, be signed by its own key, and carry ECDSA P-256/P-384 or RSA 2048-4096', async () => {
  await checkCertificateRequest(await csrWith('ec', 'prime256v1'));
  await checkCertificateRequest(await csrWith('ec', 'secp384r1'));
  await checkCertificateRequest(await csrWith('rsa', 2048));
  await refusesCsr(await csrWith('rsa', 1024), /RSASSA-PKCS1-v1_5 1024/);
  await refusesCsr(await csrWith('ec', 'secp521r1'), /P-521/);
  await refusesCsr('-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all\n-----END CERTIFICATE REQUEST-----\n', /does not parse/);
  // The last byte of the DER is the signature's last byte: flipped, the CSR still parses but its signature is wrong.
  const der = Buffer.from(new x509.Pkcs10CertificateRequest(await csrWith('ec', 'prime256v1')).rawData);
  der[der.length - 1]! ^= 0x01;
  await refusesCsr(`-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`, /not signed by the key it carries/);
});

test("the embedded CA names the certificate after the appliance (CN and URI SAN), for client auth only, whatever the CSR's subject; its id is the DER's SHA-256", async () => {
  const ca = new EmbeddedCa(await loadOrCreateCa({ dataDir: dir }), { validityDays: 30 });
  const { csrPem, keyFile } = await newKeyAndCsr(dir);
  const { certificate, ref } = await ca.issue({ applianceId: 'app-42', customerId: 'acme, inc', region: 'eu' }, csrPem);
  const cert = new X509Certificate(certificate.certificatePem);
  assert.match(cert.subject, /^CN=app-42$/m);
  assert.match(cert.subjectAltName ?? '', /URI:urn:twinroot:appliance:app-42/);
  assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(keyFile))));
  assert.equal(certificate.certificateId, createHash('sha256').update(cert.raw).digest('hex'));
  assert.equal(ref.certificateId, certificate.certificateId);
  const days = (Date.parse(certificate.expiresAt) - Date.now()) / 86400_000;
  assert.ok(days > 29.9 && days <= 30, String(days));
  const parsed = new x509.X509Certificate(certificate.certificatePem);
  const eku = parsed.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual([...(eku?.usages ?? [])], [x509.ExtendedKeyUsage.clientAuth]);
  assert.equal(parsed.getExtension(x509.BasicConstraintsExtension)?.ca, false);
});

const ref = (c: string) => ({ certificateId: c.repeat(64), expiresAt: '2030-01-01T00:00:00.000Z' });

test('which credentials a record honours: its token, its certificate and (during a rotation) the previous one', () => {
  assert.deepEqual(mqttCredentials({ tokenHash: 'h' }), ['h']);
  assert.deepEqual(mqttCredentials({ tokenHash: 'h', certificate: ref('a'), previousCertificate: ref('b') }), ['h', `cert:${'a'.repeat(64)}`, `cert:${'b'.repeat(64)}`]);
  assert.equal(honouredCertificate({ certificate: ref('a'), previousCertificate: ref('b') }, 'b'.repeat(64))?.certificateId, 'b'.repeat(64));
  assert.equal(honouredCertificate({ certificate: ref('a') }, 'c'.repeat(64)), null);
  assert.equal(honouredCertificate({}, 'a'.repeat(64)), null);
});

test('a rotation: the certificate in use stays as previous; one never used (a lost answer) is retired at once; the heartbeat over the new one completes it', () => {
  assert.deepEqual(afterNewCertificate({}, ref('a')), { certificate: ref('a'), retireNow: [] });
  assert.deepEqual(afterNewCertificate({ certificate: ref('a') }, ref('b')), { certificate: ref('b'), previousCertificate: ref('a'), retireNow: [] });
  assert.deepEqual(afterNewCertificate({ certificate: ref('b'), previousCertificate: ref('a') }, ref('c')), { certificate: ref('c'), previousCertificate: ref('a'), retireNow: [ref('b')] });
  assert.equal(rotationCompleted({ certificate: ref('b'), previousCertificate: ref('a') }, 'a'.repeat(64)), null);
  assert.equal(rotationCompleted({ certificate: ref('b'), previousCertificate: ref('a') }, undefined), null);
  assert.deepEqual(rotationCompleted({ certificate: ref('b'), previousCertificate: ref('a') }, 'b'.repeat(64)), ref('a'));
  assert.equal(rotationCompleted({ certificate: ref('b') }, 'b'.repeat(64)), null);
});

test('AWS calls are retried when refused (throttling, server errors), and on no answer only when idempotent', () => {
  for (const name of ['ThrottlingException', 'ServiceUnavailableException', 'InternalFailureException']) {
    assert.equal(mayRetry({ name }, false), true, name);
  }
  assert.equal(mayRetry({ name: 'TimeoutError' }, true), true);
  assert.equal(mayRetry({ name: 'TimeoutError' }, false), false);
  assert.equal(mayRetry({ code: 'ECONNRESET' }, true), true);
  for (const name of ['InvalidRequestException', 'UnauthorizedException', 'ResourceAlreadyExistsException', 'CertificateValidationException']) {
    assert.equal(mayRetry({ name }, true), false, name);
  }
});

test('mqttAuth names the login methods', () => {
  assert.deepEqual(mqttAuthMethods('token'), { token: true, certificate: false });
  assert.deepEqual(mqttAuthMethods('certificate'), { token: false, certificate: true });
  assert.deepEqual(mqttAuthMethods('token,certificate'), { token: true, certificate: true });
});
