import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { isValidApplianceId } from '@twinroot/protocol';
import { canPublish, canSubscribe, clientIdMatches, type Principal } from './access.js';
import { ConnectionGuard } from './connection-guard.js';
import type { ApplianceCertificateCheck, ApplianceCredentialCheck, BrokerStatus, TaskBroker } from './types.js';

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

/** The verified client certificate a TLS connection presented: whose (its CN) and which (its SHA-256). */
interface PeerCertificate {
  commonName: string;
  certificateId: string;
}
const peers = new WeakMap<object, PeerCertificate>();

/** The mTLS listener: appliances log in with a client certificate of the embedded CA. */
export interface CertificateListenerOptions {
  port: number;
  publicUrl?: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  checkCertificate: ApplianceCertificateCheck;
}

export interface EmbeddedBrokerOptions {
  host: string;
  /** The id + token listener; null: none (certificate login only). */
  port: number | null;
  publicUrl?: string;
  checkCredentials: ApplianceCredentialCheck;
  certificates?: CertificateListenerOptions;
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
 * The embedded MQTT 3.1.1 broker (aedes). Appliances log in with their id and token (plain TCP,
 * for development) and/or with a client certificate of the embedded CA (MQTT over TLS, the
 * production shape of AWS IoT Core: identity = the certificate's CN = client id), and may only
 * subscribe to their own task topic; the backend publishes in-process. A session lives only as
 * long as its credential: expired, retired and revoked ones are refused at CONNECT, and a live
 * session is closed when its credential expires or is replaced or revoked.
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<TaskBroker> {
  const now = opts.now ?? Date.now;
  const guard = new ConnectionGuard({ maxPacketBytes: opts.maxPacketBytes, maxPending: opts.maxPendingConnections }, opts.log);
  const live = new Map<string, Set<Client>>();
  const broker = await Aedes.createBroker({
    connectTimeout: opts.connectTimeoutMs,
    authenticate(client, username, password, done) {
      const peer = peers.get(client.conn);
      const accept = (id: string, cred: { fingerprint: string; expiresAtMs: number } | null, what: string) => {
        if (!cred || cred.expiresAtMs <= now()) {
          opts.log.warn({ applianceId: id, expired: !!cred }, `mqtt: refused connection: ${what}`);
          return done(authError('not authorized', 5), false);
        }
        sessions.set(client, { kind: 'appliance', applianceId: id, ...cred });
        done(null, true);
      };
      const unavailable = (id: string) => (err: Error) => {
        opts.log.warn({ applianceId: id, err: err.message }, 'mqtt: credential check failed');
        done(authError('server unavailable', 3), false);
      };
      if (peer) {
        // mTLS: the certificate is the identity; the client id must be the name it was issued to.
        const id = peer.commonName;
        if (!isValidApplianceId(id) || !clientIdMatches(client.id, id) || (username && username !== id)) {
          opts.log.warn({ clientId: client.id?.slice(0, 128), certificateFor: id.slice(0, 128) }, 'mqtt: refused connection: client id is not the certificate\'s appliance');
          return done(authError('client id does not match the certificate', 2), false);
        }
        opts.certificates!.checkCertificate(id, peer.certificateId).then((cred) => accept(id, cred, 'certificate retired, revoked or unknown'), unavailable(id));
        return;
      }
      const id = username ?? '';
      const token = password ? password.toString('utf8') : '';
      if (!isValidApplianceId(id) || !clientIdMatches(client.id, id) || token === '') {
        opts.log.warn({ clientId: client.id?.slice(0, 128) }, 'mqtt: refused connection: bad client id or username');
        return done(authError('bad username or client id', 4), false);
      }
      opts.checkCredentials(id, token).then((cred) => accept(id, cred, 'bad or expired credentials'), unavailable(id));
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

  const listen = async (server: Server, port: number): Promise<number> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, opts.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  };
  const servers: Server[] = [];
  let url = '';
  if (opts.port !== null) {
    const server: Server = createServer((socket) => {
      const conn = guard.wrap(socket);
      if (conn) broker.handle(conn);
    });
    servers.push(server);
    const port = await listen(server, opts.port);
    url = opts.publicUrl || `mqtt://${opts.host}:${port}`;
  }
  let certificateUrl: string | undefined;
  if (opts.certificates) {
    const c = opts.certificates;
    const tlsServer = createTlsServer(
      { cert: c.certPem, key: c.keyPem, ca: [c.caPem], requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', handshakeTimeout: opts.connectTimeoutMs },
      (socket: TLSSocket) => {
        // The handshake verified the chain and validity; what is left is whose it is and whether it still counts.
        const cert = socket.getPeerCertificate();
        if (!cert?.raw) return socket.destroy();
        const conn = guard.wrap(socket);
        if (!conn) return;
        peers.set(conn, { commonName: String(cert.subject?.CN ?? ''), certificateId: createHash('sha256').update(cert.raw).digest('hex') });
        broker.handle(conn);
      },
    );
    tlsServer.on('tlsClientError', (err) => opts.log.warn({ err: err.message.slice(0, 200) }, 'mqtt: TLS handshake refused'));
    servers.push(tlsServer);
    const port = await listen(tlsServer, c.port);
    certificateUrl = c.publicUrl || `mqtts://${opts.host}:${port}`;
  }
  if (!url) url = certificateUrl ?? '';
  let closed = false;

  return {
    url,
    ...(certificateUrl ? { certificateUrl } : {}),
    publish(topic, payload) {
      return new Promise((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()));
      });
    },
    dropSessions(applianceId, keep) {
      return dropWhere(applianceId, (s) => !keep.includes(s.fingerprint), keep.length > 0 ? 'credential replaced' : 'credential revoked');
    },
    status(): BrokerStatus {
      const up = !closed && servers.every((x) => x.listening) && !broker.closed;
      return { status: up ? 'up' : 'down', mode: 'embedded', url, clients: broker.connectedClients };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(expiryTimer);
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const x of servers) await new Promise<void>((resolve) => x.close(() => resolve()));
    },
  };
}
