import { join } from 'node:path';
import { PAYLOAD_FILE } from '../download.js';
import { needPayload, targetSlot, type Step, type StepResult } from './step.js';

/** verified → installing (a `download` task ends at verified: the runner stops before this). */
export const verified: Step = async (): Promise<StepResult> => ({ to: 'installing' });

/**
 * installing → boot_configured: the rootfs into the inactive slot (the overlapped extraction
 * started while downloading, or from the verified file after a resume), then the configuration
 * sync and the slot's boot entry. Every part is idempotent: a resume repeats it whole.
 */
export const installing: Step = async (ctx): Promise<StepResult> => {
  const { manifest: m, dir } = needPayload(ctx);
  const slot = targetSlot(ctx);
  const { driver } = ctx.deps;
  ctx.progress({ phase: 'installing' });
  if (ctx.carry.install) await ctx.carry.install;
  else await driver.install({ slot, payloadFile: join(dir, PAYLOAD_FILE), compression: m.payload.compression, version: m.version, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  ctx.progress({ phase: 'sync_config' });
  await driver.syncConfig(slot);
  ctx.progress({ phase: 'boot_config' });
  await driver.bootConfig(slot);
  return { to: 'boot_configured' };
};
