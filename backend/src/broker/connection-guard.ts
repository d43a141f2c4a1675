import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { MqttFrameScanner } from './frame-scanner.js';

interface Logger {
  warn(o: object, msg?: string): void;
}

export interface GuardLimits {
  maxPacketBytes: number;
  maxPending: number;
}

/**
 * Stands between a TCP socket and the broker: every inbound byte goes through the frame
 * scanner, so a packet over the limit is refused from its header and the socket closed before
 * the broker's parser buffers anything; and at most `maxPending` connections may be waiting to
 * authenticate at once (the broker's connectTimeout closes those that never do).
 */
export class ConnectionGuard {
  private readonly pending = new Set<Duplex>();
  refused = { oversized: 0, malformed: 0, overPendingCap: 0 };

  constructor(
    private readonly limits: GuardLimits,
    private readonly log: Logger,
  ) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  /** The stream to hand to the broker, or null when the socket was refused. */
  wrap(socket: Socket): Duplex | null {
    if (this.pending.size >= this.limits.maxPending) {
      this.refused.overPendingCap++;
      socket.destroy();
      return null;
    }
    const scanner = new MqttFrameScanner(this.limits.maxPacketBytes);
    const conn = new Duplex({
      read: () => void socket.resume(),
      write: (chunk: Buffer, _enc, cb) => void socket.write(chunk, cb),
      final: (cb) => void socket.end(cb),
      destroy: (err, cb) => {
        this.pending.delete(conn);
        socket.destroy();
        cb(err);
      },
    });
    this.pending.add(conn);
    socket.on('data', (chunk: Buffer) => {
      const v = scanner.scan(chunk);
      if (!v.ok) {
        if (v.reason.startsWith('packet of')) this.refused.oversized++;
        else this.refused.malformed++;
        this.log.warn({ remote: socket.remoteAddress, reason: v.reason }, 'mqtt: connection closed: bad packet');
        conn.destroy();
        return;
      }
      if (!conn.push(chunk)) socket.pause();
    });
    socket.on('end', () => conn.push(null));
    socket.on('error', () => conn.destroy());
    socket.on('close', () => conn.destroy());
    return conn;
  }

  /** The connection has authenticated: it no longer counts against the pending cap. */
  authenticated(conn: unknown): void {
    this.pending.delete(conn as Duplex);
  }
}
