// Security review #9 on the appliance side: the agent's log is not world-readable, and a local
// manifest is size-checked before it is read (a FIFO or a device is refused, not read forever).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, fetchManifest } from '@twinroot/agent';
import { redactUrl } from '../../../backend/src/http/request-log.js';

test('the agent log file is created 0640, and an existing world-readable one is tightened', () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-log-'));
  const fresh = join(dir, 'agent.log');
  createLogger(fresh, 'info').info('hello');
  assert.equal(statSync(fresh).mode & 0o777, 0o640);
  const old = join(dir, 'old.log');
  writeFileSync(old, '', { mode: 0o644 });
  createLogger(old, 'info').info('hello');
  assert.equal(statSync(old).mode & 0o777, 0o640);
});

test('a local manifest that is a FIFO or over the size limit is refused before anything is read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-manifest-'));
  const key = generateKeyPairSync('ed25519').publicKey;
  const fifo = join(dir, 'fifo.json');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(fetchManifest(fifo, key), /not a regular file/);
  const huge = join(dir, 'huge.json');
  writeFileSync(huge, '');
  truncateSync(huge, 200 * 1024 * 1024); // sparse: reading it whole would take 200 MiB of memory
  const before = process.memoryUsage().rss;
  await assert.rejects(fetchManifest(huge, key), /larger than/);
  assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, 'refused from its size, not read');
});

test('credentials in request URLs are redacted before they are logged', () => {
  assert.equal(redactUrl('/v1/log-uploads/a/b?expires=123&sig=SECRET'), '/v1/log-uploads/a/b?expires=123&sig=redacted');
  assert.equal(redactUrl('/x?X-Amz-Signature=abc&X-Amz-Credential=k&a=1'), '/x?X-Amz-Signature=redacted&X-Amz-Credential=redacted&a=1');
  assert.equal(redactUrl('/v1/appliances'), '/v1/appliances');
  assert.equal(redactUrl('/x?%73ig=SECRET'), '/x?%73ig=redacted', 'an encoded name is redacted too');
});
