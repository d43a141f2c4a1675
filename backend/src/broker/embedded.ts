import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { isValidApplianceId } from '@twinroot/protocol';
import { canPublish, canSubscribe, clientIdMatches, type Principal } from './access.js';
import { ConnectionGuard } from './connection-guard.js';
import type { ApplianceCredentialCheck, BrokerStatus, TaskBroker } from './types.js';

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

/** A logged-in appliance: who, with which credential, valid until when. */
type Session = Principal & { fingerprint: string; expiresAtMs: number };

const sessions = new WeakMap<object, Session>();

/** How often live sessions are checked for an expired credential. */
const EXPIRY_CHECK_MS = 60_000;

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  publicUrl?: string;
  checkCredentials: ApplianceCredentialCheck;
  log: Logger;
  /** Largest inbound packet (bytes); larger ones are refused from their header. */
  maxPacketBytes: number;
  /** Connections must finish CONNECT and authentication within this time. */
  connectTimeoutMs: number;
  /** Connections that have not authenticated yet, at most. */
  maxPendingConnections: number;
  /** The time source for credential expiry. */
  now?: () => number;
}

/**
 * The embedded MQTT 3.1.1 broker (aedes) for local runs and tests. Appliances log in with their
 * id and token and may only subscribe to their own task topic; the backend publishes in-process.
 * A session lives only as long as its credential: expired tokens are refused at CONNECT, and a
 * live session is closed when its token expires or is replaced or revoked.
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<TaskBroker> {
  const now = opts.now ?? Date.now;
  const guard = new ConnectionGuard({ maxPacketBytes: opts.maxPacketBytes, maxPending: opts.maxPendingConnections }, opts.log);
  const live = new Map<string, Set<Client>>();
  const broker = await Aedes.createBroker({
    connectTimeout: opts.connectTimeoutMs,
    authenticate(client, username, password, done) {
      const id = username ?? '';
      const token = password ? password.toString('utf8') : '';
      if (!isValidApplianceId(id) || !clientIdMatches(client.id, id) || token === '') {
        opts.log.warn({ clientId: client.id?.slice(0, 128) }, 'mqtt: refused connection: bad client id or username');
        return done(authError('bad username or client id', 4), false);
      }
      opts.checkCredentials(id, token).then(
        (cred) => {
          if (!cred || cred.expiresAtMs <= now()) {
            opts.log.warn({ applianceId: id, expired: !!cred }, 'mqtt: refused connection: bad or expired credentials');
            return done(authError('not authorized', 5), false);
          }
          sessions.set(client, { kind: 'appliance', applianceId: id, ...cred });
          done(null, true);
        },
        (err: Error) => {
          opts.log.warn({ applianceId: id, err: err.message }, 'mqtt: credential check failed');
          done(authError('server unavailable', 3), false);
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      const p = client ? sessions.get(client) : undefined;
      if (!p || !canSubscribe(p, sub.topic)) {
        opts.log.warn({ clientId: client?.id, topic: sub.topic.slice(0, 256) }, 'mqtt: refused subscription');
        // done(null, null) answers SUBACK 0x80 and keeps the connection; an error would drop it.
        return done(null, null);
      }
      done(null, sub);
    },
    authorizePublish(client, packet, done) {
      // client is null for the backend's own in-process publishes.
      if (!client) return done(null);
      const p = sessions.get(client);
      if (!p || !canPublish(p, packet.topic)) return done(new Error('publish not allowed'));
      done(null);
    },
  });
  broker.on('client', (client) => {
    guard.authenticated(client.conn);
    const s = sessions.get(client);
    if (!s) return;
    const set = live.get(s.applianceId) ?? new Set<Client>();
    set.add(client);
    live.set(s.applianceId, set);
  });
  broker.on('clientDisconnect', (client) => {
    const s = sessions.get(client);
    const set = s ? live.get(s.applianceId) : undefined;
    set?.delete(client);
    if (set && set.size === 0) live.delete(s!.applianceId);
  });

  const dropWhere = (applianceId: string, doomed: (s: Session) => boolean, why: string): number => {
    let n = 0;
    for (const client of [...(live.get(applianceId) ?? [])]) {
      const s = sessions.get(client);
      if (!s || !doomed(s)) continue;
      n++;
      opts.log.info({ applianceId, why }, 'mqtt: session closed');
      client.close();
    }
    return n;
  };
  const expiryTimer = setInterval(() => {
    const t = now();
    for (const id of [...live.keys()]) dropWhere(id, (s) => s.expiresAtMs <= t, 'credential expired');
  }, EXPIRY_CHECK_MS);
  expiryTimer.unref();

  const server: Server = createServer((socket) => {
    const conn = guard.wrap(socket);
    if (conn) broker.handle(conn);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = opts.publicUrl || `mqtt://${opts.host}:${port}`;
  let closed = false;

  return {
    url,
    publish(topic, payload) {
      return new Promise((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()));
      });
    },
    dropSessions(applianceId, keepCredential) {
      return dropWhere(applianceId, (s) => s.fingerprint !== keepCredential, keepCredential ? 'credential replaced' : 'credential revoked');
    },
    status(): BrokerStatus {
      const up = !closed && server.listening && !broker.closed;
      return { status: up ? 'up' : 'down', mode: 'embedded', url, clients: broker.connectedClients };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(expiryTimer);
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
