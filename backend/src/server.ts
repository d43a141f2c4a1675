import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config/keys.js';
import { ConfigError } from './config/load.js';
import { artifactDirProblem, secretPaths } from './config/secrets.js';
import { startEmbeddedDynamo, type EmbeddedDynamo } from './store/embedded-dynamodb.js';
import { createStoreClients, type StoreClients } from './store/client.js';
import { ensureTables, tableNames, type TableNames } from './store/tables.js';
import { startBroker } from './broker/start-broker.js';
import type { TaskBroker } from './broker/types.js';
import { healthPlugin } from './http/health.js';
import { systemClock, type Clock } from './clock.js';
import { createMetrics, instrumentDynamo, type Metrics } from './metrics.js';
import { Store } from './store/store.js';
import { RegisterTokens } from './auth/register-token.js';
import { RegisterTokenService } from './services/register-tokens.js';
import { RateLimiter } from './http/rate-limit.js';
import type { Faults, ServiceContext } from './services/context.js';
import { TaskService } from './services/tasks.js';
import { ApplianceService } from './services/appliances.js';
import { Sweeps } from './sweeps/sweeps.js';
import { Leases } from './sweeps/lease.js';
import { SweepScheduler } from './sweeps/scheduler.js';
import { installValidation } from './http/validation.js';
import { installSlowBodyGuard } from './http/slow-body-guard.js';
import { requestLogView } from './http/request-log.js';
import { installOpenApi } from './http/openapi.js';
import { metricsPlugin } from './http/metrics.js';
import { deviceRoutes } from './http/routes/device.js';
import { customerRoutes } from './http/routes/customers.js';
import { applianceRoutes } from './http/routes/appliances.js';
import type { ApiDeps } from './http/deps.js';
import { DirArtifactStore } from './artifacts/dir-store.js';
import { S3ArtifactStore } from './artifacts/s3-store.js';
import type { ArtifactStore } from './artifacts/artifact-store.js';
import { logRoutes, logUploadRoutes } from './http/routes/logs.js';
import { DirBundleStore, LogBundles } from './services/log-bundles.js';
import { consolePlugin } from './http/console.js';
import { fleetRoutes } from './http/routes/fleet.js';
import { errorCodeRoutes } from './http/routes/error-codes.js';
import { RolloutTicker } from './sweeps/rollout-ticker.js';
import { ReleaseService } from './services/releases.js';
import { RolloutService, type RolloutServiceOptions } from './services/rollouts.js';
import { artifactRoutes } from './http/routes/artifacts.js';
import { parseArtifactListen, startArtifactWorker } from './artifacts/artifact-worker-host.js';
import { releaseRoutes } from './http/routes/releases.js';
import { rolloutRoutes } from './http/routes/rollouts.js';

export interface Backend {
  app: FastifyInstance;
  config: Config;
  store: StoreClients;
  tables: TableNames;
  broker: TaskBroker;
  /** mqtt: where appliances log in with a token (or, with certificates only, the mTLS URL); mqttTls: the certificate listener. */
  urls: { http: string; mqtt: string; mqttTls?: string; dynamodb: string };
  operatorKey: string;
  operatorKeySource: OperatorKeySource;
  /** Typed data access over the tables. */
  data: Store;
  services: { tasks: TaskService; appliances: ApplianceService; releases: ReleaseService; rollouts: RolloutService };
  registerTokens: RegisterTokens;
  logBundles: LogBundles;
  sweeps: Sweeps;
  scheduler: SweepScheduler;
  metrics: Metrics;
  clock: Clock;
  close(): Promise<void>;
}

export interface StartOptions {
  /** The time source (tests move a manual clock). */
  clock?: Clock;
  /** Crash-test hooks (see services/context.ts). */
  faults?: Faults;
  /** Rollout engine settings (tests: small preparation chunks). */
  rollouts?: RolloutServiceOptions;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Pure: Fastify's trustProxy from the configured text ("true", or the proxies' addresses/CIDRs). */
export function trustProxySetting(v: string): boolean | string[] {
  if (v === 'true') return true;
  return v.split(',').map((a) => a.trim()).filter(Boolean);
}

/** Pure: why a bearer key cannot be used, or null. Short keys are guessable; spaces and long keys never authenticate. */
export function bearerKeyProblem(key: string): string | null {
  if (key.length < 16) return `must be at least 16 characters (got ${key.length})`;
  if (key.length > 1024) return 'must be at most 1024 characters';
  if (!/^[\x21-\x7e]+$/.test(key)) return 'may contain only visible ASCII characters (no spaces or control characters)';
  return null;
}

/** Where the operator key came from: printed in full only the one time it is generated. */
export interface OperatorKeySource {
  generated: boolean;
  file?: string;
}

/** The operator key: from config, or generated once and kept (0600) in the data directory. */
function resolveOperatorKey(config: Config, dataDir: string): { key: string; source: OperatorKeySource } {
  const file = join(dataDir, 'operator-key');
  let key: string;
  let source: OperatorKeySource;
  if (config.operatorKey) {
    key = config.operatorKey;
    source = { generated: false };
  } else if (existsSync(file)) {
    key = readFileSync(file, 'utf8').trim();
    source = { generated: false, file };
  } else {
    key = `trk_${randomBytes(24).toString('base64url')}`;
    writeFileSync(file, key + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    source = { generated: true, file };
  }
  const problem = bearerKeyProblem(key);
  if (problem) throw new ConfigError(`operator key${source.file ? ` in ${source.file}` : ' (TWINROOT_OPERATOR_KEY)'} ${problem}`);
  return { key, source };
}

/**
 * Starts the backend: store (embedded dynalite or DynamoDB), tables, broker (embedded aedes or
 * external), and the HTTP API. Everything started is closed again, in reverse order, by close()
 * — also when a later step of the start fails.
 */
export async function startBackend(config: Config, opts: StartOptions = {}): Promise<Backend> {
  const dataDir = resolve(config.dataDir);
  // The data directory holds keys and the embedded store: this user's alone.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const app = Fastify({
    logger: { level: config.logLevel, serializers: { req: requestLogView } },
    requestIdHeader: 'x-request-id',
    bodyLimit: 1024 * 1024,
    trustProxy: config.httpTrustProxy ? trustProxySetting(config.httpTrustProxy) : false,
    // Bounded sockets (README "Security"): headers, whole requests, idle and keep-alive time.
    connectionTimeout: config.httpIdleTimeoutSeconds * 1000,
    keepAliveTimeout: config.httpKeepAliveTimeoutSeconds * 1000,
    requestTimeout: config.httpRequestTimeoutSeconds * 1000,
    http: { headersTimeout: config.httpHeadersTimeoutSeconds * 1000, connectionsCheckingInterval: Math.min(1000, config.httpHeadersTimeoutSeconds * 500) || 1000 },
  });
  app.server.maxConnections = config.httpMaxConnections;
  installSlowBodyGuard(app, config.httpMinBodyBytesPerSecond, Math.max(1, config.httpBodyRateWindowSeconds) * 1000);
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  installValidation(app);
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (err) {
        app.log.warn({ err: (err as Error).message }, 'error while stopping');
      }
    }
    closers.length = 0;
  };

  try {
    let dynamo: EmbeddedDynamo | undefined;
    let endpoint: string | null;
    if (config.dynamodbEndpoint === 'embedded') {
      dynamo = await startEmbeddedDynamo({ dir: join(dataDir, 'dynamodb'), socketPath: join(dataDir, 'dynamodb.sock'), port: config.embeddedDynamodbPort });
      closers.push(() => dynamo!.close());
      endpoint = dynamo.endpoint;
    } else {
      endpoint = config.dynamodbEndpoint === 'aws' ? null : config.dynamodbEndpoint;
    }
    const store = createStoreClients({ endpoint, region: config.dynamodbRegion });
    instrumentDynamo(store.raw, metrics);
    closers.push(async () => store.raw.destroy());
    const tables = tableNames(config.dynamodbTablePrefix);
    const created = await ensureTables(store.raw, tables);
    if (created.length > 0) app.log.info({ created }, 'store: created tables');

    const { broker, login } = await startBroker(config, { dataDir, store, tables, log: app.log, now: () => clock.now() });
    closers.push(() => broker.close());

    const data = new Store(store.doc, tables);
    // The fleet summary's counters follow every appliance write (registration, heartbeat, sweeps, decommission).
    data.appliances.onWrite = (before, after) => data.countApplianceChange(before, after);
    const ctx: ServiceContext = { store: data, broker, clock, metrics, log: app.log, faults: opts.faults };
    const tasks = new TaskService(ctx);
    const appliances = new ApplianceService(ctx, tasks, login);
    const registerTokens = RegisterTokens.fromFile(config.registerTokenKeyFile || join(dataDir, 'register-token-key.pem'), !config.registerTokenKeyFile);
    const { key: operatorKey, source: operatorKeySource } = resolveOperatorKey(config, dataDir);
    const metricsKeyProblem = config.metricsKey ? bearerKeyProblem(config.metricsKey) : null;
    if (metricsKeyProblem) throw new ConfigError(`metrics key (TWINROOT_METRICS_KEY) ${metricsKeyProblem}`);
    const rollouts = new RolloutService(ctx, tasks, appliances, opts.rollouts);
    appliances.onRegistered = (a) => rollouts.join(a);
    const artifactDir = resolve(config.artifactDir || join(dataDir, 'artifacts'));
    if (config.artifactStore === 'dir') {
      const problem = artifactDirProblem(artifactDir, dataDir, secretPaths(config, dataDir));
      if (problem) throw new ConfigError(`TWINROOT_ARTIFACT_DIR (artifactDir): ${problem}`);
    }
    const artifacts: ArtifactStore =
      config.artifactStore === 'dir' ? new DirArtifactStore(artifactDir) : S3ArtifactStore.fromConfig(config.artifactStore, config.artifactS3Region, config.artifactS3Endpoint);
    let publicUrl = config.publicUrl;
    // Where appliances download release files: the API itself, or the artifact server's thread (artifactListen).
    let artifactBaseUrl = '';
    const releases = new ReleaseService(ctx, artifacts, config.releasePublicKeyFile || join(dataDir, 'release-signing.pub'), () => artifactBaseUrl || publicUrl);
    const sweeps = new Sweeps(ctx, appliances, tasks, rollouts);
    const leases = new Leases(store.doc, tables.leases, `backend-${process.pid}-${randomBytes(4).toString('hex')}`);
    const scheduler = new SweepScheduler(sweeps, leases, clock, metrics, app.log);
    const registerTokenService = new RegisterTokenService(ctx, registerTokens);
    const registerRate = { perToken: new RateLimiter(config.registerRatePerMinute), perAddress: new RateLimiter(config.registerRatePerMinute) };
    const deps: ApiDeps = { ctx, tasks, appliances, registerTokens, registerTokenService, registerRate, operatorKey };

    await installOpenApi(app, VERSION);
    await app.register(healthPlugin({ dynamo: store.raw, storeEndpoint: endpoint ?? `aws:${config.dynamodbRegion}`, broker, operatorKey }));
    await app.register(metricsPlugin(metrics, broker, config.metricsKey));
    await app.register(deviceRoutes(deps));
    await app.register(customerRoutes(deps));
    await app.register(applianceRoutes(deps));
    await app.register(consolePlugin());
    await app.register(fleetRoutes(deps));
    await app.register(errorCodeRoutes(deps));
    // Bundles beside the releases: in the bucket with an S3 store (any instance serves them), else in dataDir.
    const logBundles = new LogBundles(artifacts instanceof S3ArtifactStore ? artifacts.bundleStore() : new DirBundleStore(join(dataDir, 'log-bundles')), operatorKey);
    const logDeps = { ...deps, logs: logBundles, publicUrl: () => publicUrl };
    await app.register(logRoutes(logDeps));
    await app.register(logUploadRoutes(logDeps));
    await app.register(artifactRoutes(artifacts, (key) => releases.serves(key), { redirect: config.artifactDownloads === 'redirect' }));
    await app.register(releaseRoutes({ ...deps, releases, incomingDir: join(dataDir, 'incoming') }));
    await app.register(rolloutRoutes({ ...deps, rollouts }));
    closers.push(() => app.close());
    await app.listen({ host: config.httpHost, port: config.httpPort });
    const { port } = app.server.address() as AddressInfo;
    const http = config.publicUrl || `http://${config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost}:${port}`;
    publicUrl = http.replace(/\/+$/, '');
    const artifactListen = parseArtifactListen(config.artifactListen, config.httpHost);
    if (artifactListen) {
      if (!(artifacts instanceof DirArtifactStore)) throw new ConfigError('artifactListen serves the directory store; with an s3:// artifactStore appliances download from S3');
      const worker = await startArtifactWorker(
        { root: artifacts.root, ...artifactListen, keepAliveTimeoutMs: config.httpKeepAliveTimeoutSeconds * 1000, headersTimeoutMs: config.httpHeadersTimeoutSeconds * 1000, maxConnections: config.httpMaxConnections },
        (key) => releases.serves(key),
        (err) => app.log.error({ err: err.message }, 'artifact server failed'),
      );
      closers.push(() => worker.close());
      const host = artifactListen.host === '0.0.0.0' ? '127.0.0.1' : artifactListen.host;
      artifactBaseUrl = (config.artifactPublicUrl || `http://${host}:${worker.port}`).replace(/\/+$/, '');
      app.log.info({ url: artifactBaseUrl }, 'artifact server listening (its own thread)');
    }
    if (config.sweepSchedule !== 'off') {
      scheduler.start(config.sweepSchedule);
      closers.push(() => scheduler.stop());
      const ticker = new RolloutTicker(rollouts, app.log);
      ticker.start(config.rolloutPassSeconds);
      closers.push(() => ticker.stop());
    }

    return {
      app,
      config,
      store,
      tables,
      broker,
      urls: { http, ...(artifactBaseUrl ? { artifacts: artifactBaseUrl } : {}), mqtt: broker.url, ...(broker.certificateUrl ? { mqttTls: broker.certificateUrl } : {}), dynamodb: endpoint ?? `aws:${config.dynamodbRegion}` },
      operatorKey,
      operatorKeySource,
      data,
      services: { tasks, appliances, releases, rollouts },
      registerTokens,
      logBundles,
      sweeps,
      scheduler,
      metrics,
      clock,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
