/**
 * Finds MQTT packet boundaries in a byte stream without buffering it, so an oversized or
 * malformed packet is refused from its fixed header — before the broker's parser holds its
 * body in memory. Pure: fed chunk by chunk, it keeps only a few integers of state.
 */
export type FrameVerdict = { ok: true } | { ok: false; reason: string };

export class MqttFrameScanner {
  private stage: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private bodyLeft = 0;
  /** Complete packets seen so far. */
  packets = 0;

  constructor(private readonly maxPacketBytes: number) {}

  scan(chunk: Uint8Array): FrameVerdict {
    let i = 0;
    while (i < chunk.length) {
      if (this.stage === 'type') {
        const type = chunk[i]! >> 4;
        if (type === 0) return { ok: false, reason: 'reserved packet type 0' };
        i++;
        this.stage = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.stage === 'length') {
        const b = chunk[i]!;
        i++;
        this.length += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (b & 0x80) {
          if (this.lengthBytes === 4) return { ok: false, reason: 'malformed remaining length' };
          continue;
        }
        const total = 1 + this.lengthBytes + this.length;
        if (total > this.maxPacketBytes) return { ok: false, reason: `packet of ${total} bytes exceeds the limit of ${this.maxPacketBytes}` };
        this.bodyLeft = this.length;
        this.stage = 'body';
        if (this.bodyLeft === 0) this.finish();
      } else {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        i += take;
        this.bodyLeft -= take;
        if (this.bodyLeft === 0) this.finish();
      }
    }
    return { ok: true };
  }

  private finish(): void {
    this.packets++;
    this.stage = 'type';
  }
}
