// The `dir` slot driver: real tar + zstd payloads in a temp directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirSlotDriver } from '@twinroot/agent';

function payload(dir: string, name: string, files: Record<string, string | { text: string; mode: number }>): string {
  const src = join(dir, `${name}.src`);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(src, rel, '..'), { recursive: true });
    const c = typeof content === 'string' ? { text: content, mode: 0o644 } : content;
    writeFileSync(join(src, rel), c.text);
    chmodSync(join(src, rel), c.mode);
  }
  const out = join(dir, `${name}.tar.zst`);
  execFileSync('bash', ['-c', 'tar -C "$1" -cf - . | zstd -q -o "$2"', '_', src, out]);
  return out;
}

function fresh() {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-dir-slots-'));
  const root = join(dir, 'slots');
  mkdirSync(join(root, 'A/etc/twinroot'), { recursive: true });
  writeFileSync(join(root, 'A/etc/twinroot/version'), '1.0.0\n');
  writeFileSync(join(root, 'A/etc/hostname'), 'appliance-42\n');
  return { dir, root, d: new DirSlotDriver(root) };
}

test('install, sync, boot-config, try, boot, health-check, commit: the whole A/B cycle on directories', async () => {
  const { dir, root, d } = fresh();
  const p = payload(dir, 'v2', { 'etc/os-release': 'NAME=appliance\n', 'etc/twinroot/version': '9.9.9\n', 'usr/bin/app': 'app' });
  assert.equal(d.boot(), 'A');
  await d.install({ slot: 'B', payloadFile: p, compression: 'zstd', version: '2.0.0' });
  let s = await d.status();
  // The payload's own version file is ignored: the marker is the install's, written last.
  assert.equal(s.slots.B.version, '2.0.0');
  assert.equal(readFileSync(join(root, 'B/usr/bin/app'), 'utf8'), 'app');
  await d.syncConfig('B');
  assert.equal(readFileSync(join(root, 'B/etc/hostname'), 'utf8'), 'appliance-42\n');
  await assert.rejects(d.tryBoot('B'), /not bootable yet/);
  await d.bootConfig('B');
  await d.tryBoot('B');
  assert.equal((await d.status()).nextBoot, 'B');
  const bootBefore = d.bootId();
  assert.equal(d.boot(), 'B');
  assert.notEqual(d.bootId(), bootBefore);
  s = await d.status();
  assert.deepEqual([s.bootedSlot, s.committedSlot, s.trial, s.nextBoot], ['B', 'A', true, null]);
  assert.equal((await d.healthCheck()).ok, true);
  await d.commit();
  s = await d.status();
  assert.deepEqual([s.bootedSlot, s.committedSlot, s.trial], ['B', 'B', false]);
  // Roll back to A, and a boot afterwards lands there.
  assert.equal(await d.rollback(), 'A');
  assert.equal(d.boot(), 'A');
});

test('a trial that is not committed falls back on the next boot', async () => {
  const { dir, d } = fresh();
  d.boot();
  await d.install({ slot: 'B', payloadFile: payload(dir, 'v2', { 'etc/x': 'x' }), compression: 'zstd', version: '2.0.0' });
  await d.bootConfig('B');
  await d.tryBoot('B');
  assert.equal(d.boot(), 'B');
  assert.equal(d.boot(), 'A');
});

test('refusals: the booted and committed slots, uninstalled slots, rollback to nothing', async () => {
  const { dir, d } = fresh();
  d.boot();
  const p = payload(dir, 'v2', { 'etc/x': 'x' });
  await assert.rejects(d.install({ slot: 'A', payloadFile: p, compression: 'zstd', version: '2.0.0' }), /booted slot/);
  await assert.rejects(d.syncConfig('B'), /no installed system/);
  await assert.rejects(d.bootConfig('B'), /no installed system/);
  await assert.rejects(d.tryBoot('A'), /booted slot/);
  await assert.rejects(d.rollback(), /no installed system/);
  await assert.rejects(d.install({ slot: 'B', payloadFile: join(dir, 'missing.tar.zst'), compression: 'zstd', version: '2.0.0' }), /does not exist/);
});

test('a truncated payload fails the install and leaves the slot without a version', async () => {
  const { dir, d } = fresh();
  d.boot();
  const big: Record<string, string> = {};
  for (let i = 0; i < 50; i++) big[`usr/share/f${i}`] = 'x'.repeat(20_000) + i;
  const p = payload(dir, 'v2', big);
  truncateSync(p, 2000);
  await assert.rejects(d.install({ slot: 'B', payloadFile: p, compression: 'zstd', version: '2.0.0' }), /extracting the payload into slot B failed/);
  assert.equal((await d.status()).slots.B.version, null);
});

test("the booted slot's own health.d checks decide health", async () => {
  const { dir, root, d } = fresh();
  d.boot();
  const p = payload(dir, 'bad', { 'etc/twinroot/health.d/50-app': { text: '#!/bin/sh\necho "app is down"\nexit 3\n', mode: 0o755 } });
  await d.install({ slot: 'B', payloadFile: p, compression: 'zstd', version: '3.0.0' });
  await d.bootConfig('B');
  await d.tryBoot('B');
  d.boot();
  const h = await d.healthCheck();
  assert.equal(h.ok, false);
  const failed = h.checks.find((c) => !c.ok)!;
  assert.deepEqual([failed.name, failed.exitCode, failed.output.trim()], ['50-app', 3, 'app is down']);
  assert.ok(existsSync(join(root, 'B/etc/twinroot/health.d/50-app')));
});

test('a damaged bootstate.json is a clear error', async () => {
  const { root, d } = fresh();
  writeFileSync(join(root, 'bootstate.json'), '{"booted":"C"');
  await assert.rejects(d.status(), /bootstate.json is not JSON/);
  writeFileSync(join(root, 'bootstate.json'), '{"booted":"C","committed":"A"}');
  await assert.rejects(d.status(), /bootstate.json/);
});

test('a root filesystem larger than 100 MB installs (no output buffering limit), from a file and from a stream', async () => {
  const { dir, root, d } = fresh();
  // 160 MB of zeros: a few hundred KB compressed, more than execa's default maxBuffer expanded.
  const src = join(dir, 'big.src');
  mkdirSync(join(src, 'etc'), { recursive: true });
  execFileSync('bash', ['-c', 'head -c 160M /dev/zero > "$1/etc/big" && tar -C "$1" -cf - . | zstd -q -1 -o "$2"', '_', src, join(dir, 'big.tar.zst')]);
  await d.install({ slot: 'B', payloadFile: join(dir, 'big.tar.zst'), compression: 'zstd', version: '2.0.0' });
  assert.equal(statSync(join(root, 'B/etc/big')).size, 160 * 1024 * 1024);
  await d.install({ slot: 'B', payloadFile: '-', payloadStream: createReadStream(join(dir, 'big.tar.zst')), compression: 'zstd', version: '2.0.1' });
  assert.equal(statSync(join(root, 'B/etc/big')).size, 160 * 1024 * 1024);
  assert.equal((await d.status()).slots.B.version, '2.0.1');
});

test('security #4: links planted by a payload never redirect a write out of the slot (install marker, sync-config)', async () => {
  const { dir, root, d } = fresh();
  const victim = join(dir, 'host');
  mkdirSync(victim);
  writeFileSync(join(victim, 'hostname'), 'the host file\n');
  const tarOf = (name: string, build: (src: string) => void) => {
    const src = join(dir, `${name}.src`);
    mkdirSync(join(src, 'etc'), { recursive: true });
    build(src);
    const out = join(dir, `${name}.tar.zst`);
    execFileSync('bash', ['-c', 'tar -C "$1" -cf - . | zstd -q -o "$2"', '_', src, out]);
    return out;
  };
  // sync-config used to copy to "<file>.twinroot-new": a link there sent the host's file anywhere.
  const linked = tarOf('linked', (src) => symlinkSync(join(victim, 'hostname'), join(src, 'etc/hostname.twinroot-new')));
  await d.install({ slot: 'B', payloadFile: linked, compression: 'zstd', version: '2.0.0' });
  await d.syncConfig('B');
  assert.equal(readFileSync(join(victim, 'hostname'), 'utf8'), 'the host file\n', 'the file the link pointed at is untouched');
  assert.equal(readFileSync(join(root, 'B/etc/hostname'), 'utf8'), 'appliance-42\n');
  // etc/twinroot as a link out of the slot: the version marker is refused, not written through it.
  const dirLink = tarOf('dirlink', (src) => symlinkSync(victim, join(src, 'etc/twinroot')));
  await assert.rejects(d.install({ slot: 'B', payloadFile: dirLink, compression: 'zstd', version: '2.0.1' }), /symbolic link in the slot/);
  assert.equal(existsSync(join(victim, 'version')), false, 'nothing written through the link');
  assert.equal((await d.status()).slots.B.version, null, 'the slot is left without a version');
});
