import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPublicKey, type TaskMessageOf } from '@twinroot/protocol';
import type { AgentConfig } from '../config.js';
import type { SlotDriver } from '../slots/driver.js';
import type { Outbox } from '../outbox/outbox.js';
import { TaskFailure, type TaskContext } from '../dispatch/dispatcher.js';
import { runUpgrade, UpgradeError, type UpgradeDeps } from '../upgrade/pipeline.js';

interface Logger {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** The pipeline's dependencies from the agent's configuration. */
export function upgradeDepsFromConfig(config: AgentConfig, extra: { driver: SlotDriver; log: Logger; reboot: () => Promise<void>; beforeReboot?: () => Promise<void> }): UpgradeDeps {
  return {
    stateDir: config.stateDir,
    downloadRoot: config.downloadDir ?? join(config.stateDir, 'downloads'),
    driver: extra.driver,
    publicKey: () => {
      let pem: Buffer;
      try {
        pem = readFileSync(config.releasePublicKeyFile);
      } catch (err) {
        throw new Error(`cannot read the release public key ${config.releasePublicKeyFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      return loadPublicKey(pem, config.releasePublicKeyFile);
    },
    compatible: config.compatible ?? null,
    cpuinfo: () => readFileSync(config.cpuinfoFile, 'utf8'),
    log: extra.log,
    reboot: extra.reboot,
    ...(extra.beforeReboot ? { beforeReboot: extra.beforeReboot } : {}),
    overlapInstall: config.overlapInstall,
  };
}

/**
 * The `upgrade` task: runs the pipeline. In `install-reboot` mode the task's result comes from
 * the other side of the reboot (the boot check), so nothing is reported here then.
 */
export function upgradeHandler(deps: { config: AgentConfig; driver: SlotDriver; log: Logger; reboot: () => Promise<void>; outbox: Outbox; overrides?: Partial<UpgradeDeps> }) {
  return async (task: TaskMessageOf<'upgrade'>, ctx: TaskContext) => {
    const upgradeDeps = {
      ...upgradeDepsFromConfig(deps.config, { driver: deps.driver, log: deps.log, reboot: deps.reboot, beforeReboot: async () => void (await deps.outbox.drained(5000)) }),
      ...deps.overrides,
    };
    const b = task.body;
    try {
      const out = await runUpgrade(
        { taskId: task.taskId, version: b.version, location: b.manifestUrl, mode: b.mode, allowDowngrade: b.allowDowngrade === true, ...(b.notBefore ? { notBefore: b.notBefore } : {}) },
        upgradeDeps,
        { signal: ctx.signal, progress: ctx.progress },
      );
      if (out.rebooting) return { reported: true };
      return { detail: out.detail };
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      if (err instanceof UpgradeError) throw new TaskFailure(err.code, err.message);
      throw err;
    }
  };
}
