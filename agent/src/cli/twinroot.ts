#!/usr/bin/env node
// The appliance CLI. Every error is one line on stderr with a non-zero exit.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { AgentConfig } from '../config.js';
import type { UpgradeMode } from '@twinroot/protocol';
// Each command imports what it needs when it runs (see scripts/build-agent-bundle.sh): `--help`
// and a download do not pay for registration, diagnostics or the slot drivers.

const USAGE = `usage: twinroot [--config FILE] <command>
  register --token TOKEN --backend URL [--hostname NAME]
                                         register this appliance with the backend (the name
                                         operators see: --hostname, else the system's hostname)
  register --seed FILE [--hostname NAME] the same, from a JSON seed {"backendUrl","registerToken"}
                                         (first boot: cloud user data, QEMU fw_cfg, VMware guestinfo)
  status [--json]                        identity, connection, slots, current task
  diagnose --out FILE                    write a diagnostic bundle (tar.gz)
  download <manifestUrl> --dest DIR [--pubkey FILE]
                                         fetch a release, verify its signature and every chunk
  upgrade --manifest URL|FILE [--mode install-reboot|install|download] [--allow-downgrade]
                                         upgrade this appliance without a backend
  rollback [--reboot]                    make the other slot the default (and boot it)`;

class UsageError extends Error {}

async function config(file: string | undefined): Promise<AgentConfig> {
  const { loadAgentConfig, parseAgentConfig } = await import('../config.js');
  const f = file ?? '/etc/twinroot/agent.json';
  if (!file && !existsSync(f)) return parseAgentConfig({}, 'defaults');
  return loadAgentConfig(f);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      token: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      hostname: { type: 'string' },
      json: { type: 'boolean' },
      out: { type: 'string' },
      dest: { type: 'string' },
      pubkey: { type: 'string' },
      manifest: { type: 'string' },
      mode: { type: 'string' },
      'allow-downgrade': { type: 'boolean' },
      reboot: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (rest.length > (command === 'download' ? 1 : 0)) throw new UsageError(`unexpected argument: ${rest.at(-1)}`);
  // Read when a command needs it: `download --pubkey` does not.
  const cfg = () => config(values.config);

  switch (command) {
    case 'register': {
      if (values.seed && (values.token || values.backend)) throw new UsageError('register takes --seed FILE or --token and --backend, not both');
      const { readRegisterSeed } = await import('./register-seed.js');
      const { register } = await import('../register.js');
      const { createSlotDriver } = await import('../slots/create.js');
      const { backendUrl, registerToken } = values.seed ? readRegisterSeed(values.seed) : { backendUrl: values.backend, registerToken: values.token };
      if (!registerToken) throw new UsageError('register needs --token TOKEN');
      if (!backendUrl || !/^https?:\/\/[^\s]+$/.test(backendUrl)) throw new UsageError('register needs --backend http(s)://HOST[:PORT]');
      if (values.hostname !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(values.hostname)) throw new UsageError('--hostname must be a host name (letters, digits, dots and dashes, at most 253)');
      const c = await cfg();
      const id = await register({ backendUrl, registerToken, stateDir: c.stateDir, slots: createSlotDriver(c.slots), ...(values.hostname ? { hostname: values.hostname } : {}) });
      console.log(`registered as ${id.applianceId}; token expires ${id.tokenExpiresAt}; MQTT ${id.mqtt.url}`);
      return 0;
    }
    case 'status': {
      const { readIdentity } = await import('../state/identity.js');
      const { readRuntimeState } = await import('../runtime-state.js');
      const { createSlotDriver } = await import('../slots/create.js');
      const c = await cfg();
      const identity = readIdentity(c.stateDir);
      const runtime = readRuntimeState(c.stateDir);
      let slots: unknown;
      try {
        slots = await createSlotDriver(c.slots).status();
      } catch (err) {
        slots = { error: (err as Error).message };
      }
      const status = {
        registered: identity !== null,
        applianceId: identity?.applianceId ?? null,
        backendUrl: identity?.backendUrl ?? null,
        tokenExpiresAt: identity?.tokenExpiresAt ?? null,
        connection: runtime?.mqtt ?? 'not running',
        currentTasks: runtime?.currentTasks ?? [],
        outboxPending: runtime?.outboxPending ?? 0,
        slots,
      };
      if (values.json) console.log(JSON.stringify(status, null, 2));
      else {
        const s = slots as { bootedSlot?: string; committedSlot?: string; trial?: boolean; slots?: Record<string, { version: string | null }>; error?: string };
        console.log(`appliance   ${status.applianceId ?? '(not registered)'}`);
        console.log(`backend     ${status.backendUrl ?? '-'}   token expires ${status.tokenExpiresAt ?? '-'}`);
        console.log(`connection  ${status.connection}`);
        if (s.error) console.log(`slots       unavailable: ${s.error}`);
        else console.log(`slots       booted ${s.bootedSlot}, committed ${s.committedSlot}${s.trial ? ' (trial boot)' : ''}; A=${s.slots?.A?.version ?? '-'} B=${s.slots?.B?.version ?? '-'}`);
        console.log(`tasks       ${status.currentTasks.length === 0 ? 'none running' : status.currentTasks.map((t) => `${t.taskType} ${t.taskId}`).join(', ')}; ${status.outboxPending} result(s) waiting to be sent`);
      }
      return 0;
    }
    case 'diagnose': {
      if (!values.out) throw new UsageError('diagnose needs --out FILE');
      const { buildDiagnosticBundle } = await import('../tasks/diagnostics.js');
      const { createSlotDriver } = await import('../slots/create.js');
      const c = await cfg();
      const files = await buildDiagnosticBundle({ out: values.out, agentLog: c.logFile, slots: createSlotDriver(c.slots) });
      console.log(`wrote ${values.out} (${files.join(', ')})`);
      return 0;
    }
    case 'download': {
      const url = rest[0];
      if (!url) throw new UsageError('download needs a manifest URL (or path)');
      if (!values.dest) throw new UsageError('download needs --dest DIR');
      const { downloadRelease } = await import('./download-command.js');
      const r = await downloadRelease({ location: url, dest: values.dest, publicKeyFile: values.pubkey ?? (await cfg()).releasePublicKeyFile });
      console.log(`downloaded ${r.version} to ${r.payloadFile} (${r.bytes} bytes, all ${r.chunks} chunks verified; ${r.resumedFromBytes > 0 ? `resumed at ${r.resumedFromBytes}` : 'from the start'})`);
      return 0;
    }
    case 'upgrade': {
      if (!values.manifest) throw new UsageError('upgrade needs --manifest URL|FILE');
      const mode = values.mode ?? 'install-reboot';
      const { UPGRADE_MODES } = await import('@twinroot/protocol');
      const { localUpgrade } = await import('./release-commands.js');
      if (!(UPGRADE_MODES as readonly string[]).includes(mode)) throw new UsageError(`--mode must be one of ${UPGRADE_MODES.join(', ')}`);
      const out = await localUpgrade(await cfg(), { location: values.manifest, mode: mode as UpgradeMode, allowDowngrade: values['allow-downgrade'] === true });
      console.log(out);
      return 0;
    }
    case 'rollback': {
      const { createSlotDriver } = await import('../slots/create.js');
      const { commandReboot } = await import('../tasks/reboot.js');
      const c = await cfg();
      const driver = createSlotDriver(c.slots);
      const slot = await driver.rollback();
      console.log(`slot ${slot} is now the default${values.reboot ? '; rebooting' : ' (takes effect at the next boot)'}`);
      if (values.reboot) await commandReboot(c.rebootCommand)();
      return 0;
    }
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`twinroot: ${err.message.split('\n')[0]}`);
    process.exit(err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1);
  },
);
