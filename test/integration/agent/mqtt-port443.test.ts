// `mqttPort443`: for customer networks that block 8883, the agent reaches AWS IoT Core on port
// 443 with the ALPN protocol IoT Core expects there (x-amzn-mqtt-ca). IoT Core cannot run here; a
// TLS server on 443 that speaks only that ALPN protocol and, like IoT Core, asks for the client
// certificate, stands in, and shows what the agent sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { MqttTransport, newKeyAndCsr } from '@twinroot/agent';
import { EmbeddedCa, loadOrCreateCa } from '@twinroot/backend';

const quiet = { info() {}, warn() {} };

test('with mqttPort443 the agent connects to port 443 and offers ALPN x-amzn-mqtt-ca [a TLS server stands in for IoT Core]', { skip: process.getuid?.() !== 0 ? 'binding port 443 needs root' : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-443-'));
  const ca = new EmbeddedCa(await loadOrCreateCa({ dataDir: dir }), { validityDays: 2 });
  const server = await ca.brokerServerCertificate(['127.0.0.1']);
  const { keyFile, csrPem } = await newKeyAndCsr(dir);
  writeFileSync(join(dir, 'cert.pem'), (await ca.issue({ applianceId: 'app-443', customerId: 'c', region: 'r' }, csrPem)).certificate.certificatePem);
  writeFileSync(join(dir, 'ca.pem'), ca.brokerCaPem);
  let offered: string | false | null = null;
  const clientErrors: string[] = [];
  const tls = createServer({ cert: server.certPem, key: server.keyPem, ca: [ca.brokerCaPem], requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['x-amzn-mqtt-ca'] }, (s: TLSSocket) => {
    offered = s.alpnProtocol;
    s.destroy();
  });
  tls.on('tlsClientError', (e) => clientErrors.push(e.message));
  try {
    await new Promise<void>((resolve, reject) => tls.once('error', reject).listen(443, '127.0.0.1', () => resolve()));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return void test.skip?.(`port 443 is taken: ${(err as Error).message}`);
  }
  // The URL names 8883, as the backend hands it out; mqttPort443 overrides the port.
  const transport = new MqttTransport({
    url: 'mqtts://127.0.0.1:8883',
    applianceId: 'app-443',
    tls: { certFile: join(dir, 'cert.pem'), keyFile, caFile: join(dir, 'ca.pem') },
    port443: true,
    onMessage: () => {},
    log: quiet,
  });
  try {
    void transport.start().catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (offered === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(offered, 'x-amzn-mqtt-ca', clientErrors.join('; '));
  } finally {
    await transport.stop();
    await new Promise((r) => tls.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('mqttPort443 with a plain mqtt:// URL is refused with a clear error', async () => {
  const transport = new MqttTransport({ url: 'mqtt://127.0.0.1:1883', applianceId: 'app', token: 't', port443: true, onMessage: () => {}, log: quiet });
  await assert.rejects(transport.start(), /mqttPort443 needs an mqtts:\/\/ broker URL/);
});
