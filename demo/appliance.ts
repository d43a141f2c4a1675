import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { DirSlotDriver, parseAgentConfig, register, startAgent, type AgentConfig, type RunningAgent } from '@twinroot/agent';

export interface DemoApplianceOptions {
  /** Its directory: state, log and the two `dir` slots. */
  dir: string;
  hostname: string;
  backendUrl: string;
  registerToken: string;
  version: string;
  compatible: string;
  releasePublicKeyFile: string;
}

/**
 * One simulated appliance: the real agent, in this process, with `dir` slots (each slot a
 * directory, the boot state a JSON file). It registers with a register token, keeps its own
 * MQTT session, downloads, verifies and extracts releases like an appliance does; a reboot is
 * an agent restart, at which the `dir` driver plays the bootloader's part (trial boot, health
 * check, commit or fall back).
 */
export class DemoAppliance {
  private agent: RunningAgent | null = null;
  private restarting: Promise<void> | null = null;
  private rebootRequested = false;
  reboots = 0;

  private constructor(
    readonly hostname: string,
    readonly applianceId: string,
    private readonly config: AgentConfig,
    private readonly log: Logger,
  ) {}

  static async start(o: DemoApplianceOptions): Promise<DemoAppliance> {
    const slots = join(o.dir, 'slots');
    for (const s of ['A', 'B']) mkdirSync(join(slots, s, 'etc/twinroot'), { recursive: true });
    writeFileSync(join(slots, 'A/etc/twinroot/version'), o.version + '\n');
    writeFileSync(join(slots, 'A/etc/hostname'), o.hostname + '\n');
    writeFileSync(join(slots, 'bootstate.json'), JSON.stringify({ booted: 'A', committed: 'A', next: null }));
    const config = parseAgentConfig({
      stateDir: join(o.dir, 'state'),
      logFile: join(o.dir, 'agent.log'),
      slots: { driver: 'dir', root: slots },
      serviceInstaller: ['true'],
      rebootCommand: ['true'],
      compatible: o.compatible,
      releasePublicKeyFile: o.releasePublicKeyFile,
      progressIntervalMs: 500,
      stopGraceMs: 5000,
    });
    const identity = await register({ backendUrl: o.backendUrl, registerToken: o.registerToken, stateDir: config.stateDir, slots: new DirSlotDriver(slots), hostname: o.hostname });
    const log = pino({ level: 'info', base: { component: 'twinroot-agent', hostname: o.hostname } }, pino.destination({ dest: config.logFile, sync: false, mkdir: true }));
    const a = new DemoAppliance(o.hostname, identity.applianceId, config, log);
    await a.boot();
    return a;
  }

  private async boot(): Promise<void> {
    this.agent = await startAgent(this.config, this.log, { reboot: async () => this.scheduleReboot() });
    await this.agent.connected;
  }

  /**
   * The agent asked for a reboot: let it finish reporting, then "power-cycle" it. A reboot asked
   * for while booting (a trial root that fails its health check falls back) gets its own cycle.
   */
  private scheduleReboot(): void {
    this.rebootRequested = true;
    this.restarting ??= this.cycle().finally(() => (this.restarting = null));
  }

  private async cycle(): Promise<void> {
    while (this.rebootRequested) {
      this.rebootRequested = false;
      this.reboots += 1;
      await new Promise((resolve) => setTimeout(resolve, 500));
      try {
        await this.agent?.stop();
        await this.boot();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'demo: restart after reboot failed');
      }
    }
  }

  async stop(): Promise<void> {
    await this.restarting;
    await this.agent?.stop();
    this.agent = null;
    this.log.flush();
  }
}
