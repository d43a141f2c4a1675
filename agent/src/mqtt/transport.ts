import { io, mqtt } from 'aws-iot-device-sdk-v2';
import { taskTopic } from '@twinroot/protocol';

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

export interface TransportOptions {
  url: string;
  applianceId: string;
  /** Plain TCP brokers (embedded aedes, mosquitto): the appliance token as password. */
  token?: string;
  /** mTLS (AWS IoT Core, the embedded broker's certificate listener): these files instead of a password. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** The id of tls.certFile's certificate, reported in heartbeats while this connection is up. */
  certificateId?: string;
  /** MQTT over TLS on port 443 with ALPN x-amzn-mqtt-ca (AWS IoT Core), for networks that block 8883. */
  port443?: boolean;
  onMessage(topic: string, payload: Buffer): void;
  onState?(state: TransportState): void;
  /** Subscribed on a session the broker did not keep (first connect, or lost): anything published before is gone. */
  onFreshSession?(): void;
  log: Logger;
}

export type TransportState = 'connecting' | 'connected' | 'interrupted' | 'closed';

/**
 * The agent's MQTT 3.1.1 connection (AWS CRT): persistent session (clean_session false) so QoS 1
 * tasks published while the appliance is off are delivered when it comes back; subscribed to its
 * own task topic only. The CRT reconnects by itself with exponential backoff (1 s .. 120 s).
 */
export class MqttTransport {
  private connection: mqtt.MqttClientConnection | null = null;
  state: TransportState = 'closed';

  constructor(private readonly opts: TransportOptions) {}

  /** The client certificate this connection logs in with, while it is connected. */
  get connectedCertificateId(): string | undefined {
    return this.state === 'connected' ? this.opts.certificateId : undefined;
  }

  private setState(s: TransportState) {
    this.state = s;
    this.opts.onState?.(s);
  }

  async start(): Promise<void> {
    const o = this.opts;
    const u = new URL(o.url);
    const secure = u.protocol === 'mqtts:' || u.protocol === 'ssl:';
    let tls: io.ClientTlsContext | undefined;
    if (secure) {
      const t = o.tls?.certFile && o.tls.keyFile ? io.TlsContextOptions.create_client_with_mtls_from_path(o.tls.certFile, o.tls.keyFile) : new io.TlsContextOptions();
      if (o.tls?.caFile) t.override_default_trust_store_from_path(undefined, o.tls.caFile);
      if (o.port443) t.alpn_list = ['x-amzn-mqtt-ca'];
      tls = new io.ClientTlsContext(t);
    }
    if (o.port443 && !secure) throw new Error(`mqttPort443 needs an mqtts:// broker URL, got ${o.url}`);
    const client = new mqtt.MqttClient(new io.ClientBootstrap());
    const connection = client.new_connection({
      client_id: o.applianceId,
      host_name: u.hostname,
      port: o.port443 ? 443 : Number(u.port || (secure ? 8883 : 1883)),
      clean_session: false,
      keep_alive: 60,
      disable_metrics: true,
      socket_options: new io.SocketOptions(io.SocketType.STREAM, io.SocketDomain.IPV4, 10_000),
      reconnect_min_sec: 1,
      reconnect_max_sec: 120,
      ...(o.token && !o.tls?.certFile ? { username: o.applianceId, password: o.token } : {}),
      ...(tls ? { tls_ctx: tls } : {}),
    });
    this.connection = connection;
    // Attached before connect(): a persistent session delivers queued messages right after CONNACK.
    connection.on('message', (topic, payload) => o.onMessage(topic, Buffer.from(payload)));
    connection.on('interrupt', (err) => {
      o.log.warn({ err: String(err) }, 'mqtt: connection interrupted; reconnecting');
      this.setState('interrupted');
    });
    connection.on('resume', (returnCode, sessionPresent) => {
      o.log.info({ returnCode, sessionPresent }, 'mqtt: connection resumed');
      this.setState('connected');
      // A broker that lost our session (restart without persistence) needs the subscription again,
      // and what was published meanwhile is gone: the backend is told so (onFreshSession).
      if (!sessionPresent) {
        void this.subscribe()
          .then(() => o.onFreshSession?.())
          .catch((err: Error) => o.log.warn({ err: err.message }, 'mqtt: resubscribe failed'));
      }
    });
    connection.on('error', (err) => o.log.warn({ err: String(err) }, 'mqtt: error'));
    this.setState('connecting');
    const sessionPresent = await connection.connect();
    this.setState('connected');
    await this.subscribe();
    o.log.info({ url: o.url, topic: taskTopic(o.applianceId), sessionPresent }, 'mqtt: connected and subscribed');
    if (!sessionPresent) o.onFreshSession?.();
  }

  private async subscribe(): Promise<void> {
    const res = await this.connection!.subscribe(taskTopic(this.opts.applianceId), mqtt.QoS.AtLeastOnce);
    if ((res as { qos?: number }).qos === 128) throw new Error(`broker refused the subscription to ${taskTopic(this.opts.applianceId)}`);
  }

  async stop(): Promise<void> {
    const c = this.connection;
    this.connection = null;
    if (c) {
      try {
        await c.disconnect();
      } catch {
        // already down
      }
    }
    this.setState('closed');
  }
}
