// Raw TCP sockets for tests that play a hostile or slow peer.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A connected socket to the host:port of `url`; what the server sends is read (so its close is seen), errors ignored. */
export function openSocket(url: string): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => resolve(s));
    s.resume();
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

/** Resolves with how long the socket stayed open (ms) from now, or rejects if it is still open after `limitMs`. */
export function closedWithin(s: Socket, limitMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (s.destroyed || s.readyState === 'closed') return resolve(0);
    const t = setTimeout(() => reject(new Error(`socket still open after ${limitMs} ms`)), limitMs);
    s.once('close', () => {
      clearTimeout(t);
      resolve(Date.now() - started);
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a server started in another process). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}
