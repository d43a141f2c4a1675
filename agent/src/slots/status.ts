import { Type, type Static } from '@sinclair/typebox';
import { Slot, Version } from '@twinroot/protocol';

const SlotInfo = Type.Object({
  version: Type.Union([Version, Type.Null()]),
  /** Capacity of the slot's volume, when the driver knows it (the pre-check compares it with the manifest). */
  sizeBytes: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
}, { additionalProperties: true });

/** What the agent reports about its boot slots (the `status --json` contract of grub-scripts). */
export const SlotStatus = Type.Object({
  bootedSlot: Slot,
  committedSlot: Slot,
  trial: Type.Boolean(),
  nextBoot: Type.Optional(Type.Union([Slot, Type.Null()])),
  slots: Type.Object({
    A: SlotInfo,
    B: SlotInfo,
  }, { additionalProperties: false }),
}, { additionalProperties: true });
export type SlotStatus = Static<typeof SlotStatus>;

export interface SlotStatusSource {
  status(): Promise<SlotStatus>;
}

/** The running version: what the booted slot has installed. */
export function runningVersion(s: SlotStatus): string {
  const v = s.slots[s.bootedSlot].version;
  if (!v) throw new Error(`booted slot ${s.bootedSlot} has no version marker`);
  return v;
}
