import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { isValidApplianceId } from '@twinroot/protocol';
import { canPublish, canSubscribe, clientIdMatches, type Principal } from './access.js';
import type { ApplianceCredentialCheck, BrokerStatus, TaskBroker } from './types.js';

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
}

const principals = new WeakMap<object, Principal>();

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/**
 * The embedded MQTT 3.1.1 broker (aedes) for local runs and tests. Appliances log in with their
 * id and token and may only subscribe to their own task topic; the backend publishes in-process.
 */
export async function startEmbeddedBroker(opts: {
  host: string;
  port: number;
  publicUrl?: string;
  checkCredentials: ApplianceCredentialCheck;
  log: Logger;
}): Promise<TaskBroker> {
  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const id = username ?? '';
      const token = password ? password.toString('utf8') : '';
      if (!isValidApplianceId(id) || !clientIdMatches(client.id, id) || token === '') {
        opts.log.warn({ clientId: client.id?.slice(0, 128) }, 'mqtt: refused connection: bad client id or username');
        return done(authError('bad username or client id', 4), false);
      }
      opts.checkCredentials(id, token).then(
        (ok) => {
          if (!ok) {
            opts.log.warn({ applianceId: id }, 'mqtt: refused connection: bad credentials');
            return done(authError('not authorized', 5), false);
          }
          principals.set(client, { kind: 'appliance', applianceId: id });
          done(null, true);
        },
        (err: Error) => {
          opts.log.warn({ applianceId: id, err: err.message }, 'mqtt: credential check failed');
          done(authError('server unavailable', 3), false);
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      const p = client ? principals.get(client) : undefined;
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
      const p = principals.get(client);
      if (!p || !canPublish(p, packet.topic)) return done(new Error('publish not allowed'));
      done(null);
    },
  });

  const server: Server = createServer(broker.handle);
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
    status(): BrokerStatus {
      const up = !closed && server.listening && !broker.closed;
      return { status: up ? 'up' : 'down', mode: 'embedded', url, clients: broker.connectedClients };
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
