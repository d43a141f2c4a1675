import type { FastifyInstance } from 'fastify';

/**
 * Pure: a request body that moved fewer than `minBytesPerSecond` × window bytes in the last
 * window is too slow (a trickling client holding a socket and a request open).
 */
export function bodyTooSlow(bytesInWindow: number, windowMs: number, minBytesPerSecond: number): boolean {
  return bytesInWindow < (minBytesPerSecond * windowMs) / 1000;
}

/**
 * Cuts off request bodies that arrive slower than a minimum rate: the socket's byte counter is
 * sampled every window while the request is incomplete (no listener on the body stream, so
 * the body parsers see every byte), and a slow one is destroyed. Headers are bounded by the
 * server's headersTimeout, idle sockets by its idle timeout.
 */
export function installSlowBodyGuard(app: FastifyInstance, minBytesPerSecond: number, windowMs: number): void {
  app.addHook('onRequest', async (req) => {
    const raw = req.raw;
    if (raw.complete) return;
    const socket = raw.socket;
    let last = socket.bytesRead;
    const timer = setInterval(() => {
      if (raw.complete || socket.destroyed) return clearInterval(timer);
      const now = socket.bytesRead;
      if (bodyTooSlow(now - last, windowMs, minBytesPerSecond)) {
        clearInterval(timer);
        req.log.warn({ bytesInWindow: now - last, windowMs }, 'request body too slow: connection closed');
        socket.destroy();
        return;
      }
      last = now;
    }, windowMs);
    timer.unref();
    raw.once('close', () => clearInterval(timer));
  });
}
