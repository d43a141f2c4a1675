import { readFileSync } from 'node:fs';
import { loadPublicKey } from '@twinroot/protocol';
import pino from 'pino';
import type { AgentConfig } from '../config.js';
import { createSlotDriver } from '../slots/create.js';
import { commandReboot } from '../tasks/reboot.js';
import { upgradeDepsFromConfig } from '../tasks/upgrade.js';
import { fetchManifest } from '../upgrade/manifest-fetch.js';
import { runUpgrade } from '../upgrade/pipeline.js';
import type { UpgradeMode } from '@twinroot/protocol';
import { progressBar } from './progress-bar.js';

/**
 * `twinroot upgrade --manifest`: the upgrade pipeline without a backend (e.g. from a USB stick or
 * a support engineer's laptop). With install-reboot the appliance reboots into the trial slot
 * and the agent's boot check commits or rolls back, as for a task from the console.
 */
export async function localUpgrade(cfg: AgentConfig, o: { location: string; mode: UpgradeMode; allowDowngrade: boolean }): Promise<string> {
  const key = loadPublicKey(readFileSync(cfg.releasePublicKeyFile), cfg.releasePublicKeyFile);
  const { manifest } = await fetchManifest(o.location, key);
  const bar = progressBar();
  const log = pino({ level: 'warn' }, pino.destination(2));
  const deps = upgradeDepsFromConfig(cfg, { driver: createSlotDriver(cfg.slots), log, reboot: commandReboot(cfg.rebootCommand) });
  const taskId = `local-${new Date().toISOString().replace(/[:.]/g, '')}`;
  const out = await runUpgrade({ taskId, version: manifest.version, location: o.location, mode: o.mode, allowDowngrade: o.allowDowngrade }, deps, { progress: (p) => bar.update(p) });
  bar.done();
  if (out.rebooting) return `installed ${manifest.version} into slot ${String(out.detail.slot)}; rebooting into it on trial (the agent commits it after its health checks)`;
  if (out.detail.alreadyRunning) return `already running ${manifest.version}`;
  return `${manifest.version}: ${out.state}${out.detail.slot ? ` (slot ${String(out.detail.slot)})` : ''}`;
}
