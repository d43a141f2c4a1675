import { createHash, type Hash } from 'node:crypto';

/**
 * Hashes a byte stream both whole and in fixed-size chunks, in one pass: the two checksums a
 * manifest carries. Feed it in order with `update`, then `finish`.
 */
export class ChunkedSha256 {
  private readonly whole = createHash('sha256');
  private chunk: Hash = createHash('sha256');
  private inChunk = 0;
  private readonly chunkHashes: string[] = [];
  size = 0;

  constructor(readonly chunkSize: number) {
    if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new Error(`chunk size must be a positive integer (got ${chunkSize})`);
  }

  update(data: Buffer): void {
    this.whole.update(data);
    this.size += data.length;
    let off = 0;
    while (off < data.length) {
      const take = Math.min(this.chunkSize - this.inChunk, data.length - off);
      this.chunk.update(data.subarray(off, off + take));
      this.inChunk += take;
      off += take;
      if (this.inChunk === this.chunkSize) this.closeChunk();
    }
  }

  private closeChunk(): void {
    this.chunkHashes.push(this.chunk.digest('hex'));
    this.chunk = createHash('sha256');
    this.inChunk = 0;
  }

  finish(): { size: number; sha256: string; chunks: string[] } {
    if (this.inChunk > 0) this.closeChunk();
    return { size: this.size, sha256: this.whole.digest('hex'), chunks: this.chunkHashes };
  }
}
