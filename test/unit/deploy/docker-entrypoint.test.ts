// The container entrypoint turns key secrets from the environment into 0600 files, exports the
// file settings the backend reads, drops the variables the backend would refuse, and never
// evaluates a value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = new URL('../../../deploy/docker-entrypoint.sh', import.meta.url).pathname;

test('key secrets become 0600 files; the backend sees only the *_FILE settings; values are never evaluated', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'twinroot-entry-'));
  const hostile = '-----BEGIN PRIVATE KEY-----\n$(touch /tmp/pwned) `id` "quoted" \\n\n-----END PRIVATE KEY-----';
  const r = spawnSync('sh', [script, 'sh', '-c', 'env | grep ^TWINROOT_ | sort'], {
    env: { PATH: process.env.PATH, TMPDIR: tmp, TWINROOT_REGISTER_TOKEN_KEY_PEM: hostile, TWINROOT_RELEASE_PUBLIC_KEY_PEM: 'pub', TWINROOT_OPERATOR_KEY: 'k'.repeat(20) },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const keyFile = join(tmp, 'twinroot-keys', 'register-token-key.pem');
  assert.deepEqual(r.stdout.trim().split('\n'), [`TWINROOT_OPERATOR_KEY=${'k'.repeat(20)}`, `TWINROOT_REGISTER_TOKEN_KEY_FILE=${keyFile}`, `TWINROOT_RELEASE_PUBLIC_KEY_FILE=${join(tmp, 'twinroot-keys', 'release-signing.pub')}`]);
  assert.equal(readFileSync(keyFile, 'utf8'), hostile + '\n');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal(statSync(join(tmp, 'twinroot-keys')).mode & 0o777, 0o700);
  assert.throws(() => statSync('/tmp/pwned'));
});

test('without key secrets it only starts the command', () => {
  const r = spawnSync('sh', [script, 'sh', '-c', 'echo started; env | grep -c ^TWINROOT_ || true'], { env: { PATH: process.env.PATH }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['started', '0']);
});
