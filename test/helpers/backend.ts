import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, startBackend, type Backend, type StartOptions } from '@twinroot/backend';

/** Starts the whole embedded stack on free ports with its data in a fresh temp directory. */
export async function startTestBackend(overrides: Record<string, string> = {}, dataDir?: string, opts: StartOptions = {}): Promise<Backend & { dataDir: string; cleanup(): Promise<void> }> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'twinroot-test-'));
  const config = loadConfig({
    env: {
      TWINROOT_DATA_DIR: dir,
      TWINROOT_HTTP_PORT: '0',
      TWINROOT_MQTT_PORT: '0',
      TWINROOT_EMBEDDED_DYNAMODB_PORT: '0',
      TWINROOT_LOG_LEVEL: process.env.TWINROOT_LOG_LEVEL ?? 'silent',
      TWINROOT_SWEEP_SCHEDULE: 'off',
      // Tests register whole fleets from one address within seconds.
      TWINROOT_REGISTER_RATE_PER_MINUTE: '100000',
      ...overrides,
    },
  });
  const backend = await startBackend(config, opts);
  return {
    ...backend,
    dataDir: dir,
    async cleanup() {
      await backend.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
