import type { AgentConfig } from '../config.js';
import type { SlotDriver } from './driver.js';
import { DirSlotDriver } from './dir.js';
import { lvmGrubDriver } from './lvm-grub.js';

export function createSlotDriver(cfg: AgentConfig['slots']): SlotDriver {
  return cfg.driver === 'dir' ? new DirSlotDriver(cfg.root, cfg.sizeBytes ?? null) : lvmGrubDriver(cfg.command);
}
