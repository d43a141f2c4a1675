import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compile,
  Heartbeat,
  Manifest,
  manifestConsistencyError,
  RegisterRequest,
  RegisterResponse,
  TaskResult,
  TokenRefreshResponse,
} from '@twinroot/protocol';
import type { TSchema } from '@sinclair/typebox';
import { now, sha, validHeartbeat, validManifest, validRegisterRequest, validRegisterResponse } from '../../helpers/examples.js';

function check(name: string, schema: TSchema, valid: unknown[], invalid: [string, unknown][]) {
  const v = compile(schema);
  test(`${name}: accepts valid examples`, () => {
    for (const ex of valid) {
      const r = v(ex);
      assert.ok(r.ok, r.ok ? '' : r.error);
    }
  });
  for (const [why, ex] of invalid) {
    test(`${name}: rejects ${why}`, () => {
      const r = v(ex);
      assert.equal(r.ok, false);
      if (!r.ok) assert.ok(r.error.length > 0 && r.error.length < 1000, 'error is short and says something');
    });
  }
}

const without = <T extends object>(o: T, k: keyof T) => {
  const c = { ...o };
  delete c[k];
  return c;
};
const huge = 'x'.repeat(100_000);

check(
  'TaskResult',
  TaskResult,
  [
    { status: 'accepted' },
    { status: 'running', progress: { phase: 'download', bytes: 10, totalBytes: 100, percent: 10, rateBytesPerSecond: 5.5, etaSeconds: 18 }, seq: 3 },
    { status: 'succeeded', detail: { slot: 'B', version: '2.1.0' }, at: now },
    { status: 'failed', error: { code: 'signature_invalid', message: 'manifest signature does not verify' } },
    { status: 'rejected', error: { code: 'duplicate', message: 'seen before' } },
  ],
  [
    ['an unknown status', { status: 'done' }],
    ['a missing status', {}],
    ['failed without an error', { status: 'failed' }],
    ['succeeded with an error', { status: 'succeeded', error: { code: 'x', message: 'y' } }],
    ['an error code with spaces', { status: 'failed', error: { code: 'a b', message: 'y' } }],
    ['a huge error message', { status: 'failed', error: { code: 'x', message: huge } }],
    ['percent over 100', { status: 'running', progress: { percent: 101 } }],
    ['negative bytes', { status: 'running', progress: { bytes: -1 } }],
    ['detail with an object value', { status: 'succeeded', detail: { nested: { a: 1 } } }],
    ['detail with 100 keys', { status: 'succeeded', detail: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])) }],
    ['an extra property', { status: 'accepted', extra: 1 }],
  ],
);

check(
  'Heartbeat',
  Heartbeat,
  [validHeartbeat, { ...validHeartbeat, taskId: 't-1', services: [] }],
  [
    ['a missing version', without(validHeartbeat, 'version')],
    ['slot C', { ...validHeartbeat, bootedSlot: 'C' }],
    ['trial as a string', { ...validHeartbeat, trial: 'false' }],
    ['negative uptime', { ...validHeartbeat, uptimeS: -5 }],
    ['fractional uptime', { ...validHeartbeat, uptimeS: 1.5 }],
    ['an unknown service status', { ...validHeartbeat, services: [{ name: 'a', status: 'dancing' }] }],
    ['a huge service name', { ...validHeartbeat, services: [{ name: huge, status: 'running' }] }],
    ['too many services', { ...validHeartbeat, services: Array.from({ length: 300 }, (_, i) => ({ name: `s${i}`, status: 'running' })) }],
  ],
);

check(
  'RegisterRequest',
  RegisterRequest,
  [validRegisterRequest, { ...validRegisterRequest, ip: '2001:db8::1' }],
  [
    ['a missing registerToken', without(validRegisterRequest, 'registerToken')],
    ['a huge registerToken', { ...validRegisterRequest, registerToken: huge }],
    ['memoryMb as a string', { ...validRegisterRequest, memoryMb: '8192' }],
    ['an ip with shell characters', { ...validRegisterRequest, ip: '1.2.3.4;reboot' }],
    ['a huge hostname', { ...validRegisterRequest, hostname: huge }],
    ['slot "a"', { ...validRegisterRequest, slot: 'a' }],
    ['an extra property', { ...validRegisterRequest, admin: true }],
  ],
);

check(
  'RegisterResponse',
  RegisterResponse,
  [validRegisterResponse],
  [
    ['a short token', { ...validRegisterResponse, applianceToken: 'abc' }],
    ['an http mqtt url', { ...validRegisterResponse, mqtt: { ...validRegisterResponse.mqtt, url: 'http://x' } }],
    ['a missing mqtt', without(validRegisterResponse, 'mqtt')],
  ],
);

check(
  'TokenRefreshResponse',
  TokenRefreshResponse,
  [{ applianceToken: 'y'.repeat(43), tokenExpiresAt: now }],
  [
    ['a missing expiry', { applianceToken: 'y'.repeat(43) }],
    ['an expiry that is not a date', { applianceToken: 'y'.repeat(43), tokenExpiresAt: 'soon' }],
  ],
);

const m = validManifest();
check(
  'Manifest',
  Manifest,
  [m, { ...m, minAgentVersion: '1.2.0', payload: { ...m.payload, compression: 'xz' }, requires: { minDiskBytes: 0 } }],
  [
    ['format 2', { ...m, format: 2 }],
    ['compression gzip', { ...m, payload: { ...m.payload, compression: 'gzip' } }],
    ['an uppercase sha256', { ...m, payload: { ...m.payload, sha256: sha.toUpperCase() } }],
    ['a payload file with a path', { ...m, payload: { ...m.payload, file: '../../etc/passwd' } }],
    ['a payload file "." (security #9)', { ...m, payload: { ...m.payload, file: '.' } }],
    ['a payload file ".." (security #9)', { ...m, payload: { ...m.payload, file: '..' } }],
    ['a hidden payload file', { ...m, payload: { ...m.payload, file: '.rootfs.tar.zst' } }],
    ['a zero size', { ...m, payload: { ...m.payload, size: 0 } }],
    ['a tiny chunkSize', { ...m, payload: { ...m.payload, chunkSize: 1 } }],
    ['no chunks', { ...m, payload: { ...m.payload, chunks: [] } }],
    ['an unknown cpuLevel', { ...m, requires: { ...m.requires, cpuLevel: 'arm64' } }],
    ['a missing requires', without(m, 'requires')],
    ['a huge compatible string', { ...m, compatible: huge }],
  ],
);

test('manifestConsistencyError: chunk count must match size / chunkSize', () => {
  assert.equal(manifestConsistencyError(m), null);
  assert.match(manifestConsistencyError({ ...m, payload: { ...m.payload, chunks: [sha] } }) ?? '', /needs 4/);
  assert.match(manifestConsistencyError({ ...m, payload: { ...m.payload, file: 'manifest.json' } }) ?? '', /must not be named/);
});
