// The embedded stack in its production shape (mqttAuth "certificate"): the real agent registers
// with a CSR, the embedded CA signs it, and the agent logs in to the broker's MQTT-over-TLS
// listener with that certificate through the aws-crt client — the way it reaches AWS IoT Core.
// Every refusal the issue names is tried for real: wrong CA, expired, revoked and other-appliance
// certificates, a live session cut on decommission, and a rotation while tasks keep arriving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { taskTopic } from '@twinroot/protocol';
import { DirSlotDriver, newKeyAndCsr, readIdentity, register, startAgent, type Handlers, type RunningAgent } from '@twinroot/agent';
import { EmbeddedCa, loadOrCreateCa } from '@twinroot/backend';
import { startTestBackend } from '../../helpers/backend.js';
import { captureLogger, makeDirSlots, testAgentConfig } from '../../helpers/agent.js';
import { waitFor } from '../../helpers/device-api.js';
import { call } from '../../helpers/operator-api.js';
import { connectCertificateClient, type CertificateFilesForTest } from '../../helpers/crt-client.js';

// The broker closes the socket during the handshake (chain or validity wrong) ...
const REFUSED_AT_TLS = /AWS_IO_SOCKET_CLOSED|AWS_IO_TLS/;
// ... or the handshake passes and the MQTT layer refuses the CONNECT (certificate not honoured, wrong client id).
const REFUSED_AT_CONNECT = /libaws-c-mqtt/;

let backend: Awaited<ReturnType<typeof startTestBackend>>;
const dir = mkdtempSync(join(tmpdir(), 'twinroot-mtls-'));
const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
let registerToken: string;
const agents: RunningAgent[] = [];

before(async () => {
  // One setting turns the bare backend into its mTLS shape.
  backend = await startTestBackend({ TWINROOT_MQTT_AUTH: 'certificate', TWINROOT_MQTT_TLS_PORT: '0' });
  const c = await op('POST', '/v1/customers', { name: 'Certified Inc', region: 'eu-west-1' });
  registerToken = (await op('POST', `/v1/customers/${c.body.customerId}/register-tokens`, { ttlHours: 1 })).body.registerToken as string;
});
after(async () => {
  for (const a of agents) await a.stop();
  await backend.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Registers an appliance the way `twinroot register` does; returns its directory and identity. */
async function registerAppliance(name: string) {
  const home = join(dir, name);
  makeDirSlots(join(home, 'slots'));
  const identity = await register({ backendUrl: backend.urls.http, registerToken, stateDir: join(home, 'state'), slots: new DirSlotDriver(join(home, 'slots')) });
  return { home, identity, files: filesOf(identity) };
}

function filesOf(identity: NonNullable<ReturnType<typeof readIdentity>>): CertificateFilesForTest {
  const c = identity.certificate!;
  return { certFile: c.certFile, keyFile: c.keyFile, caFile: c.caFile! };
}

async function startRegisteredAgent(home: string, handlers: Handlers = {}) {
  const { log, records } = captureLogger();
  const agent = await startAgent(testAgentConfig(home), log, { handlers });
  agents.push(agent);
  await agent.connected;
  return { agent, records };
}

test('the bare backend in certificate mode listens for MQTT over TLS only and refuses a registration without a csr (csr_required)', async () => {
  assert.match(backend.urls.mqtt, /^mqtts:\/\//);
  assert.equal(backend.urls.mqttTls, backend.urls.mqtt);
  const r = await call(backend.urls.http, 'POST', '/v1/register', {
    json: { registerToken, hostname: 'old-agent', cpu: 'x', memoryMb: 1024, ip: '10.0.0.1', version: '1.0.0', slot: 'A' },
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'csr_required');
});

test('a csr that is not signed by its key, or is garbage, is refused with csr_invalid and registers nothing', async () => {
  const before = (await op('GET', '/v1/appliances')).body.items.length;
  const { csrPem } = await newKeyAndCsr(dir);
  // Flip one byte of the signature (the last base64 characters before the footer).
  const lines = csrPem.trim().split('\n');
  const last = lines[lines.length - 2]!;
  lines[lines.length - 2] = (last[0] === 'A' ? 'B' : 'A') + last.slice(1);
  const tampered = lines.join('\n') + '\n';
  for (const csr of [tampered, '-----BEGIN CERTIFICATE REQUEST-----\n' + 'A'.repeat(80) + '\n-----END CERTIFICATE REQUEST-----\n']) {
    const r = await call(backend.urls.http, 'POST', '/v1/register', {
      json: { registerToken, hostname: 'bad-csr', cpu: 'x', memoryMb: 1024, ip: '10.0.0.1', version: '1.0.0', slot: 'A', csr },
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.code, 'csr_invalid');
  }
  assert.equal((await op('GET', '/v1/appliances')).body.items.length, before);
});

test('registration issues a certificate for the key the appliance made (0600, never sent); the agent logs in with it over mTLS and runs a task', async () => {
  const { home, identity, files } = await registerAppliance('first');
  assert.equal(identity.mqtt.auth, 'certificate');
  assert.match(identity.mqtt.url, /^mqtts:\/\//);
  assert.equal(statSync(files.keyFile).mode & 0o777, 0o600);
  const cert = new X509Certificate(readFileSync(files.certFile));
  assert.equal(cert.subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3), identity.applianceId);
  assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(files.keyFile))));
  assert.ok(cert.verify(new X509Certificate(readFileSync(files.caFile)).publicKey), 'signed by the embedded CA');
  const rec = await backend.data.appliances.get(identity.applianceId);
  assert.equal(rec?.certificate?.certificateId, identity.certificate!.certificateId);
  assert.ok(!JSON.stringify(rec).includes('PRIVATE KEY'));

  const { agent } = await startRegisteredAgent(home);
  assert.equal(agent.transport()?.state, 'connected');
  const t = await backend.services.tasks.create({ applianceId: identity.applianceId, taskType: 'heartbeat', body: {}, createdBy: 'test' });
  let status: string | undefined;
  await waitFor('heartbeat task answered over the mTLS session', () => {
    void backend.data.tasks.get(t.taskId).then((x) => (status = x?.status));
    return status === 'succeeded';
  });
});

test('the daily token refresh without a csr (the certificate not yet due) renews the token only; the certificate keeps working', async () => {
  const { identity, files } = await registerAppliance('token-only-refresh');
  const r = await call(backend.urls.http, 'POST', `/v1/appliances/${identity.applianceId}/token`, { token: identity.applianceToken });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.notEqual(r.body.applianceToken, identity.applianceToken);
  assert.equal(r.body.certificate, undefined);
  const rec = await backend.data.appliances.get(identity.applianceId);
  assert.equal(rec?.certificate?.certificateId, identity.certificate!.certificateId);
  assert.equal(rec?.previousCertificate, undefined);
  const client = await connectCertificateClient(backend.urls.mqttTls!, identity.applianceId, files);
  await client.close();
});

test('a certificate of another CA or an expired one is refused at the TLS handshake; one of the right CA that the record does not name, at CONNECT', async () => {
  const { identity, files } = await registerAppliance('refusals');
  // Another CA signs a certificate for the same appliance id and key.
  const otherCa = new EmbeddedCa(await loadOrCreateCa({ dataDir: join(dir, 'other-ca') }), { validityDays: 30 });
  const { csrPem, keyFile } = await newKeyAndCsr(join(dir, 'refusals'));
  const foreign = await otherCa.issue({ applianceId: identity.applianceId, customerId: 'c', region: 'r' }, csrPem);
  writeFileSync(join(dir, 'foreign.pem'), foreign.certificate.certificatePem);
  await assert.rejects(connectCertificateClient(backend.urls.mqttTls!, identity.applianceId, { certFile: join(dir, 'foreign.pem'), keyFile, caFile: files.caFile }), REFUSED_AT_TLS);

  // The backend's own CA, but a certificate that expired yesterday.
  const ownCa = new EmbeddedCa(await loadOrCreateCa({ dataDir: backend.dataDir }), { validityDays: 1, now: () => Date.now() - 2 * 86400_000 });
  const expired = await ownCa.issue({ applianceId: identity.applianceId, customerId: 'c', region: 'r' }, csrPem);
  writeFileSync(join(dir, 'expired.pem'), expired.certificate.certificatePem);
  await assert.rejects(connectCertificateClient(backend.urls.mqttTls!, identity.applianceId, { certFile: join(dir, 'expired.pem'), keyFile, caFile: files.caFile }), REFUSED_AT_TLS);

  // A valid certificate of the right CA that the appliance's record does not name (never issued through registration).
  const unlisted = await new EmbeddedCa(await loadOrCreateCa({ dataDir: backend.dataDir }), { validityDays: 30 }).issue({ applianceId: identity.applianceId, customerId: 'c', region: 'r' }, csrPem);
  writeFileSync(join(dir, 'unlisted.pem'), unlisted.certificate.certificatePem);
  await assert.rejects(connectCertificateClient(backend.urls.mqttTls!, identity.applianceId, { certFile: join(dir, 'unlisted.pem'), keyFile, caFile: files.caFile }), REFUSED_AT_CONNECT);

  // The right certificate works (so the refusals above are the certificates', not the setup's).
  const ok = await connectCertificateClient(backend.urls.mqttTls!, identity.applianceId, files);
  await ok.close();
});

test("appliance A's certificate cannot receive B's tasks: refused at CONNECT with B's client id, and at SUBSCRIBE to B's topic", async () => {
  const a = await registerAppliance('appliance-a');
  const b = await registerAppliance('appliance-b');
  await assert.rejects(connectCertificateClient(backend.urls.mqttTls!, b.identity.applianceId, a.files), REFUSED_AT_CONNECT);
  const client = await connectCertificateClient(backend.urls.mqttTls!, a.identity.applianceId, a.files);
  try {
    const sub = await client.connection.subscribe(taskTopic(b.identity.applianceId), 1);
    assert.equal((sub as { qos?: number }).qos, 128, 'SUBACK refuses the other appliance’s topic');
    const own = await client.connection.subscribe(taskTopic(a.identity.applianceId), 1);
    assert.equal((own as { qos?: number }).qos, 1);
    // A task published to B never reaches A's connection.
    await backend.broker.publish(taskTopic(b.identity.applianceId), Buffer.from('{"for":"b"}'));
    await backend.broker.publish(taskTopic(a.identity.applianceId), Buffer.from('{"for":"a"}'));
    await client.waitForMessages(1);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(client.messages.map((m) => m.payload), ['{"for":"a"}']);
  } finally {
    await client.close();
  }
});

test('decommissioning revokes the certificate: the live session is cut and the certificate refused at CONNECT from then on', async () => {
  const { identity, files } = await registerAppliance('doomed');
  let interrupted = false;
  const client = await connectCertificateClient(backend.urls.mqttTls!, identity.applianceId, files, { onInterrupt: () => (interrupted = true) });
  const r = await op('DELETE', `/v1/appliances/${identity.applianceId}`);
  assert.equal(r.status, 204, JSON.stringify(r.body));
  await waitFor('the live session was closed', () => interrupted);
  await client.close().catch(() => undefined);
  await assert.rejects(connectCertificateClient(backend.urls.mqttTls!, identity.applianceId, files), REFUSED_AT_CONNECT);
});

test('rotation under load: the agent renews its certificate while tasks keep coming; each task arrives once, and the old certificate is retired once the new one is in use', async () => {
  const { home, identity, files } = await registerAppliance('rotating');
  // Keep the old key and certificate: the agent deletes them after the rotation.
  const old = { certFile: join(dir, 'old-cert.pem'), keyFile: join(dir, 'old-key.pem'), caFile: files.caFile };
  copyFileSync(files.certFile, old.certFile);
  copyFileSync(files.keyFile, old.keyFile);
  const runs = new Map<string, number>();
  const handlers: Handlers = {
    heartbeat: async (task: { taskId: string }) => {
      runs.set(task.taskId, (runs.get(task.taskId) ?? 0) + 1);
      return { detail: {} };
    },
  };
  // The certificate expires within the renewal window, so the agent renews it as it starts.
  const id = readIdentity(join(home, 'state'))!;
  writeFileSync(join(home, 'state', 'identity.json'), JSON.stringify({ ...id, certificate: { ...id.certificate!, expiresAt: new Date(Date.now() + 2 * 86400_000).toISOString() } }));
  const { agent, records } = await startRegisteredAgent(home, handlers);
  const taskIds: string[] = [];
  // A task every 100 ms from the agent's start until 1.5 s after it renewed: across the reconnect.
  let afterRenewal = 0;
  for (let i = 0; i < 80 && afterRenewal < 15; i++) {
    taskIds.push((await backend.services.tasks.create({ applianceId: identity.applianceId, taskType: 'heartbeat', body: {}, createdBy: 'load' })).taskId);
    await new Promise((r) => setTimeout(r, 100));
    if (records.some((x) => x.msg === 'appliance token and certificate renewed')) afterRenewal++;
  }
  assert.equal(afterRenewal, 15, 'the agent renewed its certificate');
  await waitFor('every task ran', () => taskIds.every((t) => runs.has(t)), 30_000);
  assert.deepEqual([...runs.values()].filter((n) => n !== 1), [], 'no task ran twice');
  const now = readIdentity(join(home, 'state'))!;
  assert.notEqual(now.certificate!.certificateId, identity.certificate!.certificateId);
  let rec: Awaited<ReturnType<typeof backend.data.appliances.get>>;
  await waitFor('the old certificate is retired once a heartbeat shows the new one in use', () => {
    void backend.data.appliances.get(identity.applianceId).then((a) => (rec = a));
    return !!rec && !rec.previousCertificate && rec.certificate?.certificateId === now.certificate!.certificateId;
  });
  await waitFor('the agent is connected with the new certificate', () => agent.transport()?.connectedCertificateId === now.certificate!.certificateId);
  await assert.rejects(connectCertificateClient(backend.urls.mqttTls!, identity.applianceId, old), REFUSED_AT_CONNECT, 'the retired certificate is refused');
  assert.throws(() => statSync(files.keyFile), 'the old key was deleted from the appliance');
});
