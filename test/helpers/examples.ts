// Valid examples of every wire message, shared by the protocol tests and other suites.
import type { Heartbeat, Manifest, RegisterRequest, RegisterResponse, TaskMessage } from '@twinroot/protocol';

export const now = '2026-11-21T10:00:00.000Z';
export const sha = 'a'.repeat(64);

export const validTasks: TaskMessage[] = [
  { taskId: 't-heartbeat-1', taskType: 'heartbeat', createdAt: now, body: {} },
  {
    taskId: 't-upgrade-1',
    taskType: 'upgrade',
    createdAt: now,
    expiresAt: '2026-11-22T10:00:00Z',
    body: { releaseId: 'rel-2.1.0', version: '2.1.0', manifestUrl: 'https://artifacts.example.com/rel/manifest.json', mode: 'install-reboot', notBefore: now },
  },
  { taskId: 't-upgrade-2', taskType: 'upgrade', createdAt: now, body: { releaseId: 'r1', version: '1.0.0-rc.1', manifestUrl: 'http://10.0.2.2:8080/a/manifest.json', mode: 'download', allowDowngrade: true } },
  { taskId: 't-rollback-1', taskType: 'rollback', createdAt: now, body: {} },
  { taskId: 't-rollback-2', taskType: 'rollback', createdAt: now, body: { reboot: false } },
  { taskId: 't-logs-1', taskType: 'collectLogs', createdAt: now, body: { uploadUrl: 'https://s3.example.com/bucket/key?X-Amz-Signature=abc' } },
  { taskId: 't-svc-1', taskType: 'installService', createdAt: now, body: { serviceCode: 'billing', version: '3.2.1', bundleUrl: 'https://x.example.com/b.tgz', sha256: sha } },
  { taskId: 't-svc-2', taskType: 'uninstallService', createdAt: now, body: { serviceCode: 'billing' } },
  { taskId: 't-reboot-1', taskType: 'reboot', createdAt: now, body: { delaySeconds: 5 } },
];

export const validHeartbeat: Heartbeat = {
  version: '2.1.0',
  bootedSlot: 'B',
  committedSlot: 'B',
  trial: false,
  services: [{ name: 'billing', status: 'running' }],
  uptimeS: 3600,
};

export const validRegisterRequest: RegisterRequest = {
  registerToken: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
  hostname: 'va-01.customer.example',
  cpu: 'Intel(R) Xeon(R) Gold 6248R',
  memoryMb: 8192,
  ip: '192.0.2.10',
  version: '2.0.0',
  slot: 'A',
};

export const validRegisterResponse: RegisterResponse = {
  applianceId: '7c0f7d1c-8a66-4a53-9a39-0d4a0e4d5f11',
  applianceToken: 'x'.repeat(43),
  tokenExpiresAt: now,
  mqtt: { url: 'mqtt://10.0.2.2:1883', clientId: '7c0f7d1c-8a66-4a53-9a39-0d4a0e4d5f11', topic: 'twinroot/appliances/7c0f7d1c-8a66-4a53-9a39-0d4a0e4d5f11/tasks' },
};

export function validManifest(): Manifest {
  return {
    format: 1,
    version: '2.1.0',
    compatible: 'acme-va-x86_64',
    requires: { cpuLevel: 'x86-64-v2', minDiskBytes: 4 * 2 ** 30 },
    payload: { file: 'rootfs.tar.zst', compression: 'zstd', size: 3 * 1024 * 1024 + 1, sha256: sha, chunkSize: 1024 * 1024, chunks: [sha, sha, sha, sha] },
    createdAt: now,
  };
}
