import { io, mqtt } from 'aws-iot-device-sdk-v2';
import type { BrokerStatus, TaskBroker } from './types.js';

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

/**
 * Publishes tasks through an external MQTT broker (mosquitto, AWS IoT Core) with the AWS CRT
 * MQTT 3.1.1 client: username/password over TCP, or mTLS (cert/key/CA) for AWS IoT Core.
 */
export async function connectExternalBroker(opts: {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  log: Logger;
}): Promise<TaskBroker> {
  const u = new URL(opts.url);
  const secure = u.protocol === 'mqtts:';
  let tls: io.ClientTlsContext | undefined;
  if (secure) {
    const tlsOpts = opts.certFile && opts.keyFile ? io.TlsContextOptions.create_client_with_mtls_from_path(opts.certFile, opts.keyFile) : new io.TlsContextOptions();
    if (opts.caFile) tlsOpts.override_default_trust_store_from_path(undefined, opts.caFile);
    if (u.port === '443') tlsOpts.alpn_list = ['x-amzn-mqtt-ca'];
    tls = new io.ClientTlsContext(tlsOpts);
  }
  const client = new mqtt.MqttClient(new io.ClientBootstrap());
  const connection = client.new_connection({
    client_id: opts.clientId,
    host_name: u.hostname,
    port: Number(u.port || (secure ? 8883 : 1883)),
    clean_session: false,
    keep_alive: 60,
    disable_metrics: true,
    socket_options: new io.SocketOptions(io.SocketType.STREAM, io.SocketDomain.IPV4, 10_000),
    ...(opts.username ? { username: opts.username } : {}),
    ...(opts.password ? { password: opts.password } : {}),
    ...(tls ? { tls_ctx: tls } : {}),
    reconnect_min_sec: 1,
    reconnect_max_sec: 60,
  });
  let up = false;
  let lastError: string | undefined;
  connection.on('connect', () => {
    up = true;
    lastError = undefined;
  });
  connection.on('resume', () => (up = true));
  connection.on('interrupt', (err) => {
    up = false;
    lastError = String(err);
    opts.log.warn({ err: lastError }, 'mqtt: connection to external broker interrupted');
  });
  connection.on('error', (err) => {
    lastError = String(err);
  });
  await connection.connect();
  up = true;
  opts.log.info({ url: opts.url }, 'mqtt: connected to external broker');
  return {
    url: opts.url,
    async publish(topic, payload) {
      await connection.publish(topic, payload, mqtt.QoS.AtLeastOnce, false);
    },
    // The external broker keeps its own credentials (AWS IoT Core: certificates); nothing to drop here.
    dropSessions: () => 0,
    status(): BrokerStatus {
      return { status: up ? 'up' : 'down', mode: 'external', url: opts.url, ...(lastError ? { error: lastError } : {}) };
    },
    async close() {
      up = false;
      await connection.disconnect();
    },
  };
}
