import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { compile } from '@twinroot/protocol';

const Argv = Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64 });

/** The agent's configuration file (JSON). Every key has a default, so `{}` is a valid file. */
export const AgentConfig = Type.Object(
  {
    stateDir: Type.String({ default: '/var/lib/twinroot', minLength: 1 }),
    logFile: Type.String({ default: '/var/log/twinroot/agent.log', minLength: 1 }),
    logLevel: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
    slots: Type.Union(
      [
        Type.Object(
          { driver: Type.Literal('dir'), root: Type.String({ minLength: 1 }), sizeBytes: Type.Optional(Type.Integer({ minimum: 0 })) },
          { additionalProperties: false },
        ),
        Type.Object(
          { driver: Type.Literal('lvm-grub'), command: Argv },
          { additionalProperties: false },
        ),
      ],
      { default: { driver: 'lvm-grub', command: ['/usr/lib/twinroot/twinroot-slot'] } },
    ),
    /** Prints the services' status as JSON [{name,status}]; absent: the services this agent installed. */
    servicesStatusCommand: Type.Optional(Argv),
    /** Called as: <argv> install <serviceCode> <version> <bundle.tar.gz> | uninstall <serviceCode>. */
    serviceInstaller: Type.Array(Type.String({ minLength: 1 }), { default: ['/usr/lib/twinroot/service-installer'], minItems: 1 }),
    rebootCommand: Type.Array(Type.String({ minLength: 1 }), { default: ['systemctl', 'reboot'], minItems: 1 }),
    /** Connect to an mqtts:// broker on port 443 with ALPN x-amzn-mqtt-ca (AWS IoT Core), for networks that block 8883. */
    mqttPort443: Type.Boolean({ default: false }),
    /**
     * mTLS files put on the appliance by hand (an older setup); the certificate issued at
     * registration takes precedence. caFile: the broker's CA bundle (AWS IoT Core: the Amazon
     * Root CA; default: the system's trust store), used unless the backend named a CA.
     */
    mqttTls: Type.Optional(
      Type.Object(
        { caFile: Type.Optional(Type.String()), certFile: Type.Optional(Type.String()), keyFile: Type.Optional(Type.String()) },
        { additionalProperties: false },
      ),
    ),
    /** What packages this appliance accepts: must equal a manifest's `compatible` (e.g. acme-va-rocky9-x86_64). */
    compatible: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' })),
    /** The pinned Ed25519 public key (PEM) release manifests must be signed with. */
    releasePublicKeyFile: Type.String({ default: '/etc/twinroot/release-signing.pub', minLength: 1 }),
    /** The pinned Ed25519 public key service bundle manifests must be signed with; absent: the release key. */
    serviceSigningKeyFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Where payloads are downloaded (the data volume); default <stateDir>/downloads. */
    downloadDir: Type.Optional(Type.String({ minLength: 1 })),
    /** Read for the CPU level pre-check. */
    cpuinfoFile: Type.String({ default: '/proc/cpuinfo', minLength: 1 }),
    /** Start extracting into the inactive slot while the payload is still downloading. */
    overlapInstall: Type.Boolean({ default: true }),
    dedupeTtlHours: Type.Integer({ default: 24 * 14, minimum: 1, maximum: 24 * 365 }),
    dedupeMaxEntries: Type.Integer({ default: 10_000, minimum: 100, maximum: 1_000_000 }),
    progressIntervalMs: Type.Integer({ default: 2000, minimum: 100 }),
    /** How long SIGTERM waits for running tasks to finish or park. */
    stopGraceMs: Type.Integer({ default: 20_000, minimum: 0 }),
    outboxBackoffBaseMs: Type.Integer({ default: 1000, minimum: 10 }),
    outboxBackoffMaxMs: Type.Integer({ default: 300_000, minimum: 100 }),
  },
  { additionalProperties: false },
);
export type AgentConfig = Static<typeof AgentConfig>;

const validate = compile(AgentConfig);

function withDefaults(raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  for (const [k, s] of Object.entries(AgentConfig.properties)) {
    const d = (s as { default?: unknown }).default;
    if (out[k] === undefined && d !== undefined) out[k] = structuredClone(d);
  }
  return out;
}

export function parseAgentConfig(raw: unknown, source = 'config'): AgentConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${source}: expected a JSON object`);
  const v = validate(withDefaults(raw as Record<string, unknown>));
  if (!v.ok) throw new Error(`${source}: ${v.error}`);
  return v.value;
}

export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`config ${file} is not JSON: ${(err as Error).message}`);
  }
  return parseAgentConfig(raw, `config ${file}`);
}
