// `npm start`: the backend with a simulated fleet to watch a rollout on.
// `npm start -- --no-demo`: the bare backend (its own options and configuration apply).
import { rmSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const HELP = `usage: npm start [-- --port N] [--appliances N] [--data DIR]
       npm start -- --no-demo [--config FILE]

Starts the twinroot backend with a demo: customers in three regions, a simulated fleet of
appliances (the real agent, in this process, with directory slots; each its own MQTT session),
and two signed demo releases. Prints the console URL and the operator key.
The demo's data directory is wiped at every start.

  --port N          HTTP port of the backend and console (default 8080; 0: any free port)
  --appliances N    size of the simulated fleet (default 30)
  --data DIR        demo data directory (default .twinroot/demo)
  --no-demo         run the bare backend instead (see README "Configuration")`;

async function demo(): Promise<number> {
  let args;
  try {
    args = parseArgs({ options: { port: { type: 'string', default: '8080' }, appliances: { type: 'string', default: '30' }, data: { type: 'string', default: '.twinroot/demo' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: false });
  } catch (err) {
    console.error(`twinroot demo: ${(err as Error).message}`);
    return 2;
  }
  if (args.values.help) {
    console.log(HELP);
    return 0;
  }
  const port = Number(args.values.port);
  const count = Number(args.values.appliances);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return fail(`--port: expected a port number, got ${args.values.port}`);
  if (!Number.isInteger(count) || count < 1 || count > 500) return fail(`--appliances: expected 1-500, got ${args.values.appliances}`);

  const { startBackend, loadConfig } = await import('@twinroot/backend');
  const { buildDemoRelease, demoKeys, operatorClient, pickCompression, registerRelease, startDemoFleet } = await import('./demo.js');

  const dataDir = resolve(args.values.data);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const compression = pickCompression();
  const keys = demoKeys(dataDir);
  const t0 = Date.now();
  const config = loadConfig({
    env: {
      TWINROOT_DATA_DIR: dataDir,
      TWINROOT_HTTP_PORT: String(port),
      TWINROOT_MQTT_PORT: '0',
      // The production shape: appliances log in with client certificates the embedded CA issues from their CSRs.
      TWINROOT_MQTT_AUTH: 'certificate',
      TWINROOT_MQTT_TLS_PORT: '0',
      TWINROOT_LOG_LEVEL: 'warn',
      // Sweeps every minute and rollout passes every 2 s, so a stage follows the last one promptly.
      TWINROOT_SWEEP_SCHEDULE: '* * * * *',
      TWINROOT_ROLLOUT_PASS_SECONDS: '2',
      // The demo's appliances all register from this host at once.
      TWINROOT_REGISTER_RATE_PER_MINUTE: '10000',
    },
  });
  process.stdout.write('twinroot demo: starting the backend …\n');
  const backend = await startBackend(config);
  const op = operatorClient(backend.urls.http, backend.operatorKey);
  let fleet: Awaited<ReturnType<typeof startDemoFleet>> | null = null;
  const shutdown = async () => {
    await fleet?.stop();
    await backend.close();
  };
  try {
    process.stdout.write(`twinroot demo: building and registering the demo releases (${compression}) …\n`);
    const work = join(dataDir, 'build');
    for (const [version, healthy] of [['2.0.0', true], ['2.0.0-rc.1', false]] as const) {
      await registerRelease(op, await buildDemoRelease(work, version, keys.privateKey, compression, healthy));
    }
    fleet = await startDemoFleet({
      op,
      backendUrl: backend.urls.http,
      dir: join(dataDir, 'appliances'),
      version: '1.0.0',
      releasePublicKeyFile: keys.publicKey,
      scale: count / 30,
      onProgress: (n, total) => process.stdout.write(`\rtwinroot demo: ${n}/${total} appliances registered and connected`),
    });
  } catch (err) {
    await shutdown();
    throw err;
  }
  const url = backend.urls.http;
  process.stdout.write(
    [
      '',
      '',
      `twinroot demo is up (${((Date.now() - t0) / 1000).toFixed(1)} s): ${fleet.appliances.length} appliances on 1.0.0 in ${fleet.customers.length} customers, regions eu-west-1, us-east-1, ap-southeast-2`,
      '',
      `  console        ${url}/`,
      `  operator key   ${backend.operatorKey}`,
      `  API docs       ${url}/docs`,
      `  MQTT broker    ${backend.urls.mqtt} (MQTT over TLS; appliances log in with client certificates from the embedded CA)`,
      `  data           ${dataDir} (wiped at the next start)`,
      '',
      'Sign in with the key, then Rollouts → New rollout: release 2.0.0, stage timeout 1 minute,',
      'pre-download window 0.01 h, and watch it go region by region (canaries first, then halves).',
      'Release 2.0.0-rc.1 fails its health check on purpose: appliances fall back by themselves and',
      'the rollout pauses on its error threshold. Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  process.stdout.write('twinroot demo: stopping …\n');
  await shutdown();
  return 0;
}

function fail(msg: string): number {
  console.error(`twinroot demo: ${msg}`);
  return 2;
}

if (process.argv.includes('--no-demo')) {
  process.argv = process.argv.filter((a) => a !== '--no-demo');
  await import('../backend/src/main.js');
} else {
  demo().then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(`twinroot demo: ${err.message}`);
      process.exit(1);
    },
  );
}
