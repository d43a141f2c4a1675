import { parseArgs } from 'node:util';

// The pinned AWS SDK works on Node 20; its notice about future releases is not for operators.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { loadConfig, ConfigError } from './config/load.js';
import { startBackend, type OperatorKeySource } from './server.js';

const HELP = `usage: twinroot-backend [--config FILE]

Starts the twinroot backend. Without configuration it embeds its DynamoDB-API store (dynalite)
and MQTT broker (aedes) and keeps data under .twinroot/data. Every setting can also be given
as a TWINROOT_* environment variable; see README.md "Configuration".`;

/** The key itself is printed once, when it is generated; afterwards only where it is kept. */
function operatorKeyLine(source: OperatorKeySource, key: string): string {
  if (source.generated) return `${key}   (generated now and kept in ${source.file}; it is not printed again)`;
  return source.file ? `kept in ${source.file}` : 'from the configuration (TWINROOT_OPERATOR_KEY)';
}

async function main(): Promise<number> {
  // Files the backend creates (store, keys, bundles) are its own: 0600 / 0700.
  process.umask(0o077);
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: false });
  } catch (err) {
    console.error(`twinroot-backend: ${(err as Error).message}`);
    return 2;
  }
  if (args.values.help) {
    console.log(HELP);
    return 0;
  }
  let config;
  try {
    config = loadConfig({ file: args.values.config });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`twinroot-backend: configuration error: ${err.message}`);
      return 2;
    }
    throw err;
  }

  let backend;
  try {
    backend = await startBackend(config);
  } catch (err) {
    // Settings checked at start (keys, the artifact directory) are configuration errors too.
    if (err instanceof ConfigError) {
      console.error(`twinroot-backend: configuration error: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const brokerLine = (mode: string, auth: string, urls: { mqtt: string; mqttTls?: string }) => {
    if (mode === 'aws-iot') return `${urls.mqtt}   (AWS IoT Core: appliances log in with certificates issued from their CSRs; tasks published over HTTPS)`;
    if (mode !== 'embedded') return `${urls.mqtt}   (external)`;
    const token = auth.includes('token') ? `${urls.mqtt} (id + token, for development)` : '';
    const cert = urls.mqttTls ? `${urls.mqttTls} (MQTT over TLS, client certificates of the embedded CA)` : '';
    return `${[token, cert].filter(Boolean).join(' and ')}   (embedded aedes)`;
  };
  const lines = [
    'twinroot backend is up',
    `  HTTP API      ${backend.urls.http}   (health: ${backend.urls.http}/healthz, API docs: ${backend.urls.http}/docs, metrics: ${backend.urls.http}/metrics)`,
    `  MQTT broker   ${brokerLine(config.mqttUrl, config.mqttAuth, backend.urls)}`,
    `  DynamoDB      ${backend.urls.dynamodb}   (${config.dynamodbEndpoint === 'embedded' ? `embedded dynalite, data in ${config.dataDir}` : 'external'})`,
    `  operator key  ${operatorKeyLine(backend.operatorKeySource, backend.operatorKey)}`,
    `  sweeps        ${config.sweepSchedule === 'off' ? 'off (run by another instance)' : `"${config.sweepSchedule}" (presence, heartbeats, task retries)`}`,
    '',
    'Try it:',
    `  curl -H "Authorization: Bearer $(cat ${backend.operatorKeySource.file ?? 'KEYFILE'})" ${backend.urls.http}/v1/appliances`,
  ];
  process.stdout.write(lines.join('\n') + '\n');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      backend.app.log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await backend.close();
  process.stdout.write('twinroot backend stopped\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`twinroot-backend: ${err.message}`);
    process.exit(1);
  },
);
