// AWS IoT Core mode. IoT Core's control plane (things, certificates, policies) and data plane
// (HTTPS Publish) cannot run here, so they are replaced at the SDK boundary by aws-sdk-client-mock
// — named in every test title. Everything else is real: the backend, its store, the agent's
// registration (key, CSR, installed certificate), the rotation and the decommission.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DescribeEndpointCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  IoTClient,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
  ThrottlingException,
  UpdateCertificateCommand,
  UpdateThingCommand,
} from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { taskTopic } from '@twinroot/protocol';
import { AwsIotIssuer, EmbeddedCa, IOT_MAX_MESSAGE_BYTES, iotDataPlaneBroker, loadOrCreateCa, DomainError } from '@twinroot/backend';
import { BackendClient, DirSlotDriver, newKeyAndCsr, readIdentity, register } from '@twinroot/agent';
import { startTestBackend } from '../../helpers/backend.js';
import { makeDirSlots } from '../../helpers/agent.js';
import { call } from '../../helpers/operator-api.js';

const dir = mkdtempSync(join(tmpdir(), 'twinroot-awsiot-'));
const iot = mockClient(IoTClient);
const data = mockClient(IoTDataPlaneClient);
const quiet = { info() {}, warn() {}, error() {} };
const fast = { attempts: 4, baseMs: 1 };
const ENDPOINT = 'a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com';
const ARN = (id: string) => `arn:aws:iot:eu-west-1:123456789012:cert/${id}`;
// The mock's CreateCertificateFromCsr signs the CSR it is given, as IoT Core does (with another CA).
let amazonLikeCa: EmbeddedCa;
let issuedIds: string[] = [];

function createCertificateFromCsr(input: { certificateSigningRequest?: string }) {
  return amazonLikeCa.issue({ applianceId: 'ignored-by-iot', customerId: 'x', region: 'x' }, input.certificateSigningRequest!).then(({ certificate }) => {
    issuedIds.push(certificate.certificateId);
    return { certificateArn: ARN(certificate.certificateId), certificateId: certificate.certificateId, certificatePem: certificate.certificatePem };
  });
}

function resetMocks() {
  iot.reset();
  data.reset();
  issuedIds = [];
  iot.on(DescribeEndpointCommand).resolves({ endpointAddress: ENDPOINT });
  iot.on(CreateThingCommand).resolves({ thingName: 'x', thingArn: 'arn:x' });
  iot.on(CreateCertificateFromCsrCommand).callsFake(createCertificateFromCsr);
  iot.on(AttachPolicyCommand).resolves({});
  iot.on(AttachThingPrincipalCommand).resolves({});
  iot.on(UpdateCertificateCommand).resolves({});
  iot.on(DetachThingPrincipalCommand).resolves({});
  iot.on(DetachPolicyCommand).resolves({});
  iot.on(DeleteThingCommand).resolves({});
  iot.on(DeleteCertificateCommand).resolves({});
  data.on(PublishCommand).resolves({});
}

const throttled = () => new ThrottlingException({ message: 'Rate exceeded', $metadata: {} });
const timedOut = () => Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
const subject = { applianceId: 'app-1', customerId: 'cust-1', region: 'eu-west-1' };

before(async () => {
  amazonLikeCa = new EmbeddedCa(await loadOrCreateCa({ dataDir: join(dir, 'amazon-like-ca') }), { validityDays: 3650 });
});
beforeEach(resetMocks);
after(() => {
  iot.restore();
  data.restore();
  rmSync(dir, { recursive: true, force: true });
});

const issuer = () => new AwsIotIssuer({ iot: new IoTClient({ region: 'eu-west-1' }), policyName: 'twinroot-appliance', log: quiet, retry: fast });
const csr = async () => (await newKeyAndCsr(dir)).csrPem;

test('issue [aws-sdk-client-mock: IoT control plane]: CreateThing, CreateCertificateFromCsr, AttachPolicy, AttachThingPrincipal — in that order, with these parameters', async () => {
  const pem = await csr();
  const { certificate, ref } = await issuer().issue(subject, pem);
  const names = iot.calls().map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
  assert.deepEqual(names, ['CreateThingCommand', 'CreateCertificateFromCsrCommand', 'AttachPolicyCommand', 'AttachThingPrincipalCommand']);
  assert.deepEqual(iot.commandCalls(CreateThingCommand)[0]!.args[0].input, { thingName: 'app-1', attributePayload: { attributes: { customer: 'cust-1', region: 'eu-west-1' } } });
  assert.deepEqual(iot.commandCalls(CreateCertificateFromCsrCommand)[0]!.args[0].input, { certificateSigningRequest: pem, setAsActive: true });
  assert.deepEqual(iot.commandCalls(AttachPolicyCommand)[0]!.args[0].input, { policyName: 'twinroot-appliance', target: ARN(certificate.certificateId) });
  assert.deepEqual(iot.commandCalls(AttachThingPrincipalCommand)[0]!.args[0].input, { thingName: 'app-1', principal: ARN(certificate.certificateId) });
  assert.equal(ref.arn, ARN(certificate.certificateId));
  assert.match(certificate.certificatePem, /^-----BEGIN CERTIFICATE-----/);
});

test('issue [aws-sdk-client-mock]: a thing that exists with other attributes (ResourceAlreadyExistsException) is updated, not fatal', async () => {
  iot.on(CreateThingCommand).rejects(new ResourceAlreadyExistsException({ message: 'exists', resourceId: 'app-1', resourceArn: 'arn', $metadata: {} }));
  iot.on(UpdateThingCommand).resolves({});
  await issuer().issue(subject, await csr());
  assert.deepEqual(iot.commandCalls(UpdateThingCommand)[0]!.args[0].input, { thingName: 'app-1', attributePayload: { attributes: { customer: 'cust-1', region: 'eu-west-1' }, merge: false } });
  assert.equal(iot.commandCalls(CreateCertificateFromCsrCommand).length, 1);
});

test('issue [aws-sdk-client-mock]: throttling is retried (the call was refused, nothing was made) — one certificate in the end', async () => {
  iot.on(CreateCertificateFromCsrCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).callsFake(createCertificateFromCsr);
  await issuer().issue(subject, await csr());
  assert.equal(iot.commandCalls(CreateCertificateFromCsrCommand).length, 3);
  assert.equal(issuedIds.length, 1);
});

test('issue [aws-sdk-client-mock]: a timeout of CreateCertificateFromCsr is not retried (a second call would make a second certificate); the registration fails with certificate_issuer_unavailable', async () => {
  iot.on(CreateCertificateFromCsrCommand).rejects(timedOut());
  await assert.rejects(issuer().issue(subject, await csr()), (e) => e instanceof DomainError && e.code === 'certificate_issuer_unavailable');
  assert.equal(iot.commandCalls(CreateCertificateFromCsrCommand).length, 1);
  assert.equal(iot.commandCalls(AttachPolicyCommand).length, 0);
});

test('issue [aws-sdk-client-mock]: a timeout of an idempotent call (CreateThing, AttachPolicy) is retried', async () => {
  iot.on(CreateThingCommand).rejectsOnce(timedOut()).resolves({});
  iot.on(AttachPolicyCommand).rejectsOnce(timedOut()).resolves({});
  await issuer().issue(subject, await csr());
  assert.equal(iot.commandCalls(CreateThingCommand).length, 2);
  assert.equal(iot.commandCalls(AttachPolicyCommand).length, 2);
  assert.equal(issuedIds.length, 1);
});

test('issue [aws-sdk-client-mock]: throttled past every retry fails with certificate_issuer_unavailable (503)', async () => {
  iot.on(CreateThingCommand).rejects(throttled());
  await assert.rejects(issuer().issue(subject, await csr()), (e) => e instanceof DomainError && e.code === 'certificate_issuer_unavailable' && e.statusCode === 503);
  assert.equal(iot.commandCalls(CreateThingCommand).length, fast.attempts);
});

test('issue [aws-sdk-client-mock]: a certificate made but not attachable is deactivated and deleted, so no orphan stays active', async () => {
  iot.on(AttachThingPrincipalCommand).rejects(new ResourceNotFoundException({ message: 'no thing', $metadata: {} }));
  await assert.rejects(issuer().issue(subject, await csr()));
  const id = issuedIds[0]!;
  assert.deepEqual(iot.commandCalls(DetachPolicyCommand)[0]!.args[0].input, { policyName: 'twinroot-appliance', target: ARN(id) });
  assert.deepEqual(iot.commandCalls(UpdateCertificateCommand)[0]!.args[0].input, { certificateId: id, newStatus: 'INACTIVE' });
  assert.deepEqual(iot.commandCalls(DeleteCertificateCommand)[0]!.args[0].input, { certificateId: id });
});

test('retire and revoke [aws-sdk-client-mock]: INACTIVE (rotation) or REVOKED (decommission) first, then detached from thing and policy; a revoked appliance\'s thing is deleted', async () => {
  const ref = { certificateId: 'a'.repeat(64), expiresAt: '2030-01-01T00:00:00.000Z', arn: ARN('a'.repeat(64)) };
  await issuer().retire('app-1', ref);
  assert.deepEqual(iot.commandCalls(UpdateCertificateCommand).map((c) => c.args[0].input), [{ certificateId: ref.certificateId, newStatus: 'INACTIVE' }]);
  assert.deepEqual(iot.commandCalls(DetachThingPrincipalCommand)[0]!.args[0].input, { thingName: 'app-1', principal: ref.arn });
  assert.deepEqual(iot.commandCalls(DetachPolicyCommand)[0]!.args[0].input, { policyName: 'twinroot-appliance', target: ref.arn });
  assert.equal(iot.commandCalls(DeleteThingCommand).length, 0);
  resetMocks();
  // Already detached (a retried revoke) is fine.
  iot.on(DetachThingPrincipalCommand).rejects(new ResourceNotFoundException({ message: 'gone', $metadata: {} }));
  await issuer().revoke('app-1', [ref]);
  assert.deepEqual(iot.commandCalls(UpdateCertificateCommand).map((c) => c.args[0].input), [{ certificateId: ref.certificateId, newStatus: 'REVOKED' }]);
  assert.deepEqual(iot.commandCalls(DeleteThingCommand)[0]!.args[0].input, { thingName: 'app-1' });
});

test('data-plane publish [aws-sdk-client-mock: IoT data plane]: QoS 1 over HTTPS, throttling retried, larger than 128 KiB refused before sending', async () => {
  const broker = iotDataPlaneBroker({ client: new IoTDataPlaneClient({ region: 'eu-west-1', endpoint: `https://${ENDPOINT}` }), endpoint: ENDPOINT, appliancesUrl: `mqtts://${ENDPOINT}:8883`, retry: fast });
  data.on(PublishCommand).rejectsOnce(throttled()).resolves({});
  await broker.publish('twinroot/appliances/app-1/tasks', Buffer.from('{"taskId":"t1"}'));
  const calls = data.commandCalls(PublishCommand);
  assert.equal(calls.length, 2);
  assert.equal(calls[1]!.args[0].input.topic, 'twinroot/appliances/app-1/tasks');
  assert.equal(calls[1]!.args[0].input.qos, 1);
  assert.equal(Buffer.from(calls[1]!.args[0].input.payload as Uint8Array).toString(), '{"taskId":"t1"}');
  await assert.rejects(broker.publish('t', Buffer.alloc(IOT_MAX_MESSAGE_BYTES + 1)), /128|131072|limit/);
  assert.equal(data.commandCalls(PublishCommand).length, 2);
  assert.equal(broker.dropSessions('app-1', []), 0);
  assert.equal(broker.status().status, 'up');
});

test('the whole backend in aws-iot mode [aws-sdk-client-mock: IoT control and data planes]: the agent registers with a CSR and gets the IoT endpoint and its certificate; tasks are published through the data plane; rotation retires the old certificate; decommission revokes', async () => {
  const backend = await startTestBackend({ TWINROOT_MQTT_URL: 'aws-iot', TWINROOT_AWS_IOT_REGION: 'eu-west-1' });
  try {
    const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
    assert.deepEqual(iot.commandCalls(DescribeEndpointCommand)[0]!.args[0].input, { endpointType: 'iot:Data-ATS' });
    const c = await op('POST', '/v1/customers', { name: 'Cloud Co', region: 'eu-west-1' });
    const registerToken = (await op('POST', `/v1/customers/${c.body.customerId}/register-tokens`, { ttlHours: 1 })).body.registerToken as string;

    // An agent too old to send a CSR cannot register: IoT Core takes certificates only.
    const old = await call(backend.urls.http, 'POST', '/v1/register', { json: { registerToken, hostname: 'old', cpu: 'x', memoryMb: 1, ip: '10.0.0.9', version: '1.0.0', slot: 'A' } });
    assert.equal(old.body.code, 'csr_required');
    assert.equal(iot.commandCalls(CreateThingCommand).length, 0);

    const home = join(dir, 'appliance');
    makeDirSlots(join(home, 'slots'));
    const identity = await register({ backendUrl: backend.urls.http, registerToken, stateDir: join(home, 'state'), slots: new DirSlotDriver(join(home, 'slots')) });
    assert.equal(identity.mqtt.url, `mqtts://${ENDPOINT}:8883`);
    assert.equal(identity.mqtt.auth, 'certificate');
    assert.equal(identity.certificate?.caFile, undefined, 'IoT Core: the Amazon Root CA from the agent configuration or the system store');
    assert.deepEqual(iot.commandCalls(CreateThingCommand)[0]!.args[0].input.thingName, identity.applianceId);
    assert.deepEqual(iot.commandCalls(CreateThingCommand)[0]!.args[0].input.attributePayload, { attributes: { customer: c.body.customerId, region: 'eu-west-1' } });
    assert.equal(identity.certificate?.certificateId, issuedIds[0]);
    assert.ok(readFileSync(identity.certificate!.certFile, 'utf8').startsWith('-----BEGIN CERTIFICATE-----'));

    const t = await backend.services.tasks.create({ applianceId: identity.applianceId, taskType: 'heartbeat', body: {}, createdBy: 'test' });
    const pub = data.commandCalls(PublishCommand).map((x) => x.args[0].input);
    assert.equal(pub.length, 1);
    assert.equal(pub[0]!.topic, taskTopic(identity.applianceId));
    assert.equal(pub[0]!.qos, 1);
    assert.equal((JSON.parse(Buffer.from(pub[0]!.payload as Uint8Array).toString()) as { taskId: string }).taskId, t.taskId);

    // Rotation: a refresh with a CSR issues a second certificate; the first stays valid until a heartbeat shows the second in use.
    const client = new BackendClient(backend.urls.http, () => readIdentity(join(home, 'state'))!.applianceToken);
    const { csrPem } = await newKeyAndCsr(join(home, 'state'));
    const fresh = await client.refreshToken(identity.applianceId, csrPem);
    assert.equal(fresh.certificate?.certificateId, issuedIds[1]);
    assert.equal(iot.commandCalls(UpdateCertificateCommand).length, 0, 'the old certificate is not retired before the new one is in use');
    const authed = new BackendClient(backend.urls.http, () => fresh.applianceToken);
    const hb = { version: '1.0.0', bootedSlot: 'A' as const, committedSlot: 'A' as const, trial: false, services: [], uptimeS: 1 };
    await authed.heartbeat(identity.applianceId, { ...hb, certificateId: issuedIds[0]! });
    assert.equal(iot.commandCalls(UpdateCertificateCommand).length, 0, 'a heartbeat over the old certificate retires nothing');
    await authed.heartbeat(identity.applianceId, { ...hb, certificateId: issuedIds[1]! });
    assert.deepEqual(iot.commandCalls(UpdateCertificateCommand).map((x) => x.args[0].input), [{ certificateId: issuedIds[0], newStatus: 'INACTIVE' }]);
    assert.deepEqual(iot.commandCalls(DetachThingPrincipalCommand).map((x) => x.args[0].input), [{ thingName: identity.applianceId, principal: ARN(issuedIds[0]!) }]);
    const rec = await backend.data.appliances.get(identity.applianceId);
    assert.equal(rec?.certificate?.certificateId, issuedIds[1]);
    assert.equal(rec?.previousCertificate, undefined);

    // Decommission: the current certificate REVOKED and detached, the thing deleted.
    assert.equal((await op('DELETE', `/v1/appliances/${identity.applianceId}`)).status, 204);
    assert.deepEqual(iot.commandCalls(UpdateCertificateCommand).map((x) => x.args[0].input).slice(1), [{ certificateId: issuedIds[1], newStatus: 'REVOKED' }]);
    assert.deepEqual(iot.commandCalls(DeleteThingCommand)[0]!.args[0].input, { thingName: identity.applianceId });
  } finally {
    await backend.cleanup();
  }
});
