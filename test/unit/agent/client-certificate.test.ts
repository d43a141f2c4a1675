// The agent's side of certificate identity: a fresh key per CSR (0600, never sent), the issued
// certificate installed only for that key, unused key files cleaned up, and the MQTT login chosen
// from identity.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCertificate, mqttLogin, needsRefresh, newKeyAndCsr, parseAgentConfig, removeUnusedCertificateFiles, type Identity } from '@twinroot/agent';
import { EmbeddedCa, loadOrCreateCa } from '@twinroot/backend';

const dir = mkdtempSync(join(tmpdir(), 'twinroot-agent-cert-'));
const subject = { applianceId: 'app-1', customerId: 'c', region: 'r' };

test('each CSR comes with a new P-256 key written 0600; the CSR carries only the public key', async () => {
  const a = await newKeyAndCsr(dir);
  const b = await newKeyAndCsr(dir);
  assert.notEqual(a.keyFile, b.keyFile);
  assert.equal(statSync(a.keyFile).mode & 0o777, 0o600);
  assert.match(readFileSync(a.keyFile, 'utf8'), /BEGIN PRIVATE KEY/);
  assert.match(a.csrPem, /^-----BEGIN CERTIFICATE REQUEST-----/);
  assert.ok(!a.csrPem.includes('PRIVATE'));
});

test('an issued certificate is installed only for the key this appliance made; otherwise nothing points at it', async () => {
  const ca = new EmbeddedCa(await loadOrCreateCa({ dataDir: join(dir, 'backend') }), { validityDays: 10 });
  const mine = await newKeyAndCsr(dir);
  const theirs = await newKeyAndCsr(dir);
  const issuedForTheirs = (await ca.issue(subject, theirs.csrPem)).certificate;
  assert.throws(() => installCertificate(dir, mine.keyFile, issuedForTheirs), /not for the key this appliance generated/);
  const issued = (await ca.issue(subject, mine.csrPem)).certificate;
  const files = installCertificate(dir, mine.keyFile, issued, ca.brokerCaPem);
  assert.equal(files.certificateId, issued.certificateId);
  assert.equal(files.keyFile, mine.keyFile);
  assert.equal(readFileSync(files.caFile!, 'utf8'), ca.brokerCaPem);
  // Everything identity.json does not name goes: the other key and any stray certificate.
  removeUnusedCertificateFiles(dir, [files.keyFile, files.certFile]);
  const left = readdirSync(dir).filter((f) => f.startsWith('mqtt-key-') || f.startsWith('mqtt-cert-'));
  assert.deepEqual(left.sort(), [files.certFile, files.keyFile].map((f) => f.slice(dir.length + 1)).sort());
  assert.ok(!existsSync(theirs.keyFile));
});

const identity = (extra: Partial<Identity> = {}): Identity => ({
  applianceId: 'app-1',
  applianceToken: 'x'.repeat(40),
  tokenExpiresAt: '2030-01-01T00:00:00.000Z',
  backendUrl: 'http://backend',
  mqtt: { url: 'mqtts://broker:8883', clientId: 'app-1', topic: 'twinroot/appliances/app-1/tasks' },
  registeredAt: '2026-01-01T00:00:00.000Z',
  ...extra,
});
const cert = { certificateId: 'a'.repeat(64), expiresAt: '2030-01-01T00:00:00.000Z', certFile: '/s/c.pem', keyFile: '/s/k.pem' };

test('the MQTT login: the issued certificate (with the CA the backend named, else the configured bundle), else the token', () => {
  const config = parseAgentConfig({ mqttTls: { caFile: '/etc/amazon-root-ca.pem' } });
  assert.deepEqual(mqttLogin(identity({ mqtt: { ...identity().mqtt, auth: 'certificate' }, certificate: cert }), config), {
    tls: { certFile: '/s/c.pem', keyFile: '/s/k.pem', caFile: '/etc/amazon-root-ca.pem' },
    certificateId: cert.certificateId,
  });
  assert.deepEqual(mqttLogin(identity({ mqtt: { ...identity().mqtt, auth: 'certificate' }, certificate: { ...cert, caFile: '/s/ca.pem' } }), config).tls?.caFile, '/s/ca.pem');
  assert.deepEqual(mqttLogin(identity(), parseAgentConfig({})), { token: 'x'.repeat(40) });
  // A token-login broker that also handed out a certificate: the token is what it takes.
  assert.equal(mqttLogin(identity({ mqtt: { ...identity().mqtt, auth: 'token' }, certificate: cert }), parseAgentConfig({})).token, 'x'.repeat(40));
});

test('renewal is due 10 days before a certificate (or token) expires', () => {
  const now = new Date('2029-12-20T00:00:00.000Z');
  assert.equal(needsRefresh('2029-12-31T00:00:00.000Z', now), false);
  assert.equal(needsRefresh('2029-12-29T23:59:59.000Z', now), true);
  assert.equal(needsRefresh('2029-12-01T00:00:00.000Z', now), true);
});
