import { closeSync, openSync, read } from 'node:fs';
import { Readable } from 'node:stream';
import type { PayloadDownload } from './download.js';

const READ_SIZE = 1024 * 1024;

/**
 * Streams a payload file while it downloads, never past the verified prefix: an installer fed
 * from this reads only bytes that matched the signed manifest. Ends when the whole payload is
 * verified; fails if the download does (`fail`), so a partial install is never completed.
 */
export class VerifiedPrefixReader extends Readable {
  private pos = 0;
  private fd: number | null = null;
  private waiting = false;
  private readonly onVerified = () => {
    if (this.waiting) {
      this.waiting = false;
      this._read();
    }
  };

  constructor(private readonly download: PayloadDownload) {
    super({ highWaterMark: READ_SIZE });
    download.events.on('verified', this.onVerified);
  }

  fail(err: Error): void {
    this.destroy(err);
  }

  override _read(): void {
    const limit = this.download.verifiedBytes;
    if (this.pos >= limit) {
      if (this.download.complete) this.push(null);
      else this.waiting = true;
      return;
    }
    this.fd ??= openSync(this.download.file, 'r');
    const len = Math.min(READ_SIZE, limit - this.pos);
    const buf = Buffer.allocUnsafe(len);
    read(this.fd, buf, 0, len, this.pos, (err, n) => {
      if (err) return this.destroy(err);
      if (n === 0) return this.destroy(new Error(`payload file ended at ${this.pos} although ${limit} bytes are verified`));
      this.pos += n;
      this.push(buf.subarray(0, n));
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.download.events.off('verified', this.onVerified);
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    cb(err);
  }
}
