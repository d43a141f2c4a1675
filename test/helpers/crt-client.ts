// A minimal aws-iot-device-sdk-v2 MQTT 3.1.1 client for tests, configured the way the agent is:
// persistent session, QoS 1, no SDK metrics, message handler attached before connect().
import { io, mqtt } from 'aws-iot-device-sdk-v2';

export interface TestClient {
  connection: mqtt.MqttClientConnection;
  messages: { topic: string; payload: string }[];
  waitForMessages(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** What every test connection shares with the agent's: a persistent session, fast reconnects. */
function sessionOptions(u: URL, clientId: string) {
  return {
    client_id: clientId,
    host_name: u.hostname,
    port: Number(u.port),
    clean_session: false,
    keep_alive: 30,
    disable_metrics: true,
    socket_options: new io.SocketOptions(io.SocketType.STREAM, io.SocketDomain.IPV4, 5000),
    reconnect_min_sec: 1,
    reconnect_max_sec: 2,
  };
}

export async function connectTestClient(url: string, clientId: string, password: string): Promise<TestClient> {
  const u = new URL(url);
  const client = new mqtt.MqttClient(new io.ClientBootstrap());
  const connection = client.new_connection({ ...sessionOptions(u, clientId), username: clientId, password });
  const collected = collect(connection);
  await connection.connect();
  return collected;
}

/** Keeps every message the connection receives (the handler attached before connect(), as the agent does). */
function collect(connection: mqtt.MqttClientConnection): TestClient {
  const messages: { topic: string; payload: string }[] = [];
  const waiters: (() => void)[] = [];
  connection.on('message', (topic, payload) => {
    messages.push({ topic, payload: Buffer.from(payload).toString('utf8') });
    for (const w of waiters.splice(0)) w();
  });
  return {
    connection,
    messages,
    async waitForMessages(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < n) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} messages, got ${messages.length}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    close: () => connection.disconnect(),
  };
}

export interface CertificateFilesForTest {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/**
 * An aws-crt MQTT 3.1.1 client over mTLS (the agent's way to reach AWS IoT Core or the embedded
 * broker's certificate listener). Resolves with the connection, or rejects with the CONNECT or TLS error.
 */
export async function connectCertificateClient(url: string, clientId: string, files: CertificateFilesForTest, opts: { onInterrupt?: (err: unknown) => void } = {}): Promise<TestClient> {
  const u = new URL(url);
  const tlsOpts = io.TlsContextOptions.create_client_with_mtls_from_path(files.certFile, files.keyFile);
  tlsOpts.override_default_trust_store_from_path(undefined, files.caFile);
  const client = new mqtt.MqttClient(new io.ClientBootstrap());
  const connection = client.new_connection({ ...sessionOptions(u, clientId), tls_ctx: new io.ClientTlsContext(tlsOpts) });
  const collected = collect(connection);
  if (opts.onInterrupt) connection.on('interrupt', opts.onInterrupt);
  try {
    await connection.connect();
  } catch (err) {
    // A refused CONNECT leaves the CRT retrying in the background otherwise.
    await connection.disconnect().catch(() => undefined);
    throw err;
  }
  return collected;
}
