import { readFileSync } from 'node:fs';
import cron from 'node-cron';
import { CONFIG_KEYS, envName, type Config, type ConfigKey, type KeySpec } from './keys.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseValue(key: ConfigKey, spec: KeySpec, raw: unknown, source: string): string | number {
  const where = `${source} (${key})`;
  const shown = JSON.stringify(typeof raw === 'string' ? raw.slice(0, 80) : raw);
  switch (spec.type) {
    case 'port': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${where}: expected a port number 0-65535, got ${shown}`);
      return n;
    }
    case 'seconds': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]{1,5}$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < 0 || n > 86400) throw new ConfigError(`${where}: expected whole seconds 0-86400, got ${shown}`);
      return n;
    }
    case 'count': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 2 ** 31 - 1) throw new ConfigError(`${where}: expected a whole number 1-${2 ** 31 - 1}, got ${shown}`);
      return n;
    }
    case 'level':
      if (typeof raw !== 'string' || !LEVELS.includes(raw)) throw new ConfigError(`${where}: expected one of ${LEVELS.join(', ')}, got ${shown}`);
      return raw;
    case 'url-or-mode': {
      if (typeof raw !== 'string') throw new ConfigError(`${where}: expected a string, got ${shown}`);
      const modes = key === 'dynamodbEndpoint' ? ['embedded', 'aws'] : ['embedded', 'aws-iot'];
      const schemes = key === 'dynamodbEndpoint' ? ['http:', 'https:'] : ['mqtt:', 'mqtts:'];
      if (modes.includes(raw)) return raw;
      // The embedded store of another instance on this host, reached through its Unix socket.
      if (key === 'dynamodbEndpoint' && /^unix:\/[^\0]+$/.test(raw)) return raw;
      let url: URL | undefined;
      try {
        url = new URL(raw);
      } catch {
        url = undefined;
      }
      if (!url || !schemes.includes(url.protocol) || !url.hostname) {
        const unix = key === 'dynamodbEndpoint' ? ', unix:/path/to/socket' : '';
        throw new ConfigError(`${where}: expected ${modes.map((m) => `"${m}"`).join(' or ')}${unix} or a ${schemes.map((s) => s.slice(0, -1)).join('/')} URL, got ${shown}`);
      }
      return raw;
    }
    case 'cron':
      if (raw === 'off') return raw;
      if (typeof raw !== 'string' || !cron.validate(raw)) throw new ConfigError(`${where}: expected a cron expression (e.g. "*/5 * * * *") or "off", got ${shown}`);
      return raw;
    case 'string':
    case 'path':
    case 'secret':
      if (typeof raw !== 'string') throw new ConfigError(`${where}: expected a string, got ${shown}`);
      if (raw.length > 4096 || /[\0\r\n]/.test(raw)) throw new ConfigError(`${where}: value too long or has control characters`);
      return raw;
  }
}

/**
 * Loads the configuration: defaults, then the JSON file (if given), then TWINROOT_* variables.
 * Unknown keys and unknown TWINROOT_* variables are errors, so a typo never silently falls back
 * to a default.
 */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv } = {}): Config {
  const env = opts.env ?? process.env;
  const keys = Object.keys(CONFIG_KEYS) as ConfigKey[];
  const values: Record<string, string | number> = Object.fromEntries(keys.map((k) => [k, CONFIG_KEYS[k].default]));

  const file = opts.file ?? env.TWINROOT_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${file}: expected a JSON object`);
    for (const [k, v] of Object.entries(parsed)) {
      if (!Object.hasOwn(CONFIG_KEYS, k)) throw new ConfigError(`config file ${file}: unknown key "${k}"`);
      values[k] = parseValue(k as ConfigKey, CONFIG_KEYS[k as ConfigKey], v, `config file ${file}: ${k}`);
    }
  }

  const byEnv = new Map(keys.map((k) => [envName(k), k]));
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('TWINROOT_') || name === 'TWINROOT_CONFIG' || raw === undefined) continue;
    const key = byEnv.get(name);
    if (!key) {
      // Variables of the other programs (agent, tests) share the prefix; only reject near-misses of ours.
      if (ownPrefixes.some((p) => name.startsWith(p))) throw new ConfigError(`${name}: unknown variable (known: ${[...byEnv.keys()].join(', ')})`);
      continue;
    }
    values[key] = parseValue(key, CONFIG_KEYS[key], raw, name);
  }

  const store = String(values.artifactStore);
  if (store !== 'dir' && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(store)) {
    throw new ConfigError(`TWINROOT_ARTIFACT_STORE (artifactStore): expected "dir" or s3://bucket[/prefix], got ${JSON.stringify(store.slice(0, 80))}`);
  }
  if (values.artifactDownloads !== 'redirect' && values.artifactDownloads !== 'proxy') {
    throw new ConfigError(`TWINROOT_ARTIFACT_DOWNLOADS (artifactDownloads): expected "redirect" or "proxy", got ${JSON.stringify(String(values.artifactDownloads).slice(0, 80))}`);
  }
  const auths = String(values.mqttAuth).split(',').map((a) => a.trim());
  if (auths.length === 0 || auths.some((a) => a !== 'token' && a !== 'certificate') || new Set(auths).size !== auths.length) {
    throw new ConfigError(`TWINROOT_MQTT_AUTH (mqttAuth): expected "token", "certificate" or "token,certificate", got ${JSON.stringify(String(values.mqttAuth).slice(0, 80))}`);
  }
  if ([values.caCertFile, values.caKeyFile].filter((v) => v !== '').length === 1) throw new ConfigError('TWINROOT_CA_CERT_FILE (caCertFile) and TWINROOT_CA_KEY_FILE (caKeyFile) must be given together');
  const tls = [values.mqttCertFile, values.mqttKeyFile].filter((v) => v !== '').length;
  if (tls === 1) throw new ConfigError('TWINROOT_MQTT_CERT_FILE (mqttCertFile) and TWINROOT_MQTT_KEY_FILE (mqttKeyFile) must be given together');
  if (values.mode !== 'development' && values.mode !== 'production') throw new ConfigError(`TWINROOT_MODE (mode): expected "development" or "production", got ${JSON.stringify(String(values.mode).slice(0, 80))}`);
  const problems = productionProblems(values as Config);
  if (problems.length > 0) throw new ConfigError(`production mode: ${problems.join('; ')}`);
  return values as Config;
}

/**
 * Pure: what a production configuration lacks. Nothing an instance would otherwise generate on
 * its own disk (keys every instance must share), no instance-local store, no password logins.
 */
export function productionProblems(c: Config): string[] {
  if (c.mode !== 'production') return [];
  const out: string[] = [];
  if (!c.operatorKey) out.push('set operatorKey (TWINROOT_OPERATOR_KEY): a generated one would differ per instance');
  if (!c.registerTokenKeyFile) out.push('set registerTokenKeyFile (TWINROOT_REGISTER_TOKEN_KEY_FILE): tokens signed by one instance must verify on all');
  if (!c.releasePublicKeyFile) out.push('set releasePublicKeyFile (TWINROOT_RELEASE_PUBLIC_KEY_FILE): the key the appliances pin');
  if (c.dynamodbEndpoint === 'embedded') out.push('dynamodbEndpoint "embedded" keeps the fleet on one instance\'s disk: use "aws" or a DynamoDB URL');
  if (c.mqttUrl === 'embedded') {
    if (c.mqttAuth.split(',').map((a) => a.trim()).includes('token')) out.push('mqttAuth must be "certificate": the id + token listener is for development');
    if (!c.caCertFile) out.push('set caCertFile and caKeyFile: the embedded CA must not be one instance\'s generated key');
  }
  return out;
}

const ownPrefixes = ['TWINROOT_CA_', 'TWINROOT_AWS_IOT_', 'TWINROOT_CERTIFICATE_', 'TWINROOT_HTTP_', 'TWINROOT_REGISTER_', 'TWINROOT_METRICS_', 'TWINROOT_DYNAMODB_', 'TWINROOT_MQTT_', 'TWINROOT_EMBEDDED_', 'TWINROOT_ARTIFACT_', 'TWINROOT_RELEASE_'];
