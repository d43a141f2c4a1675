// twinroot-image, run as the CLI users run it: key generation, packaging a root filesystem
// (ownership, xattrs, ACLs, capabilities, exclusions), verification and its refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, chownSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPublicKey, verifyManifest } from '@twinroot/protocol';
import { makeRootfs } from '../../helpers/packages.js';

const CLI = ['--conditions=twinroot-source', '--import', 'tsx', 'image-build/src/cli/twinroot-image.ts'];
function image(...args: string[]) {
  const r = spawnSync(process.execPath, [...CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const isRoot = process.getuid?.() === 0;

function keys(): string {
  const dir = mkdtempSync(join(tmpdir(), 'img-keys-'));
  const r = image('keygen', '--out', dir);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

test('keygen writes an Ed25519 pair (private key 0600) and never overwrites one', () => {
  const dir = keys();
  assert.equal(statSync(join(dir, 'signing.key')).mode & 0o777, 0o600);
  assert.equal(loadPublicKey(readFileSync(join(dir, 'signing.pub'))).asymmetricKeyType, 'ed25519');
  const again = image('keygen', '--out', dir);
  assert.equal(again.code, 1);
  assert.equal(again.stderr.trim(), `twinroot-image: ${join(dir, 'signing.key')} already exists; refusing to overwrite a signing key`);
});

test('build packs the root filesystem with owners, xattrs, ACLs and capabilities; verify accepts it', { skip: !isRoot && 'needs root to set owners and capabilities' }, () => {
  const k = keys();
  const work = mkdtempSync(join(tmpdir(), 'img-'));
  const root = makeRootfs(join(work, 'root'), { randomKiB: 300 });
  writeFileSync(join(root, 'etc/owned'), 'x');
  chownSync(join(root, 'etc/owned'), 1234, 2345);
  execFileSync('setfattr', ['-n', 'user.twinroot', '-v', 'kept', join(root, 'etc/owned')]);
  execFileSync('setfacl', ['-m', 'u:1234:rw', join(root, 'etc/owned')]);
  writeFileSync(join(root, 'usr/bin/server'), '#!/bin/sh\n', { mode: 0o755 });
  execFileSync('setcap', ['cap_net_bind_service=ep', join(root, 'usr/bin/server')]);
  // Run-time contents and the bootloader's own files stay out; the directories stay in.
  for (const d of ['proc/1', 'run/lock', 'tmp/x', 'boot/grub2', 'dev/pts']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'tmp/x/junk'), 'junk');
  writeFileSync(join(root, 'boot/grub2/grub.cfg'), 'old');
  writeFileSync(join(root, 'etc/twinroot/version'), '1.0.0\n');
  mkdirSync(join(root, 'usr/share/proc'), { recursive: true });
  writeFileSync(join(root, 'usr/share/proc/kept'), 'a directory called proc elsewhere is kept');

  const out = join(work, 'pkg');
  const r = image('build', '--rootfs', root, '--version', '2.0.0', '--compatible', 'acme-va', '--key', join(k, 'signing.key'), '--out', out, '--chunk-size', '65536', '--cpu-level', 'x86-64-v2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^built 2\.0\.0 in [0-9.]+ s: .*rootfs-2\.0\.0\.tar\.zst/);
  assert.match(r.stderr, /packing: /, 'shows progress');
  const m = verifyManifest(readFileSync(join(out, 'manifest.json')), readFileSync(join(out, 'manifest.json.sig')), loadPublicKey(readFileSync(join(k, 'signing.pub'))));
  assert.equal(m.requires.cpuLevel, 'x86-64-v2');
  assert.ok(m.requires.minDiskBytes > 300 * 1024);
  assert.ok(m.payload.chunks.length >= 5);

  const v = image('verify', '--package', out, '--pubkey', join(k, 'signing.pub'));
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^ok: 2\.0\.0 \(acme-va\), signature valid/);

  const x = join(work, 'extracted');
  mkdirSync(x);
  execFileSync('bash', ['-c', 'zstd -qdc "$1" | tar -x -C "$2" --numeric-owner --xattrs "--xattrs-include=*" --acls -f -', '_', join(out, m.payload.file), x]);
  const st = statSync(join(x, 'etc/owned'));
  assert.deepEqual([st.uid, st.gid], [1234, 2345]);
  assert.match(execFileSync('getfattr', ['-n', 'user.twinroot', '--only-values', join(x, 'etc/owned')]).toString(), /kept/);
  assert.match(execFileSync('getfacl', ['-p', join(x, 'etc/owned')]).toString(), /user:1234:rw-/);
  assert.match(execFileSync('getcap', [join(x, 'usr/bin/server')]).toString(), /cap_net_bind_service[=+]ep/);
  for (const d of ['proc', 'run', 'tmp', 'boot/grub2', 'dev']) assert.ok(existsSync(join(x, d)), `${d} is kept as a directory`);
  for (const f of ['proc/1', 'run/lock', 'tmp/x', 'boot/grub2/grub.cfg', 'dev/pts', 'etc/twinroot/version']) assert.equal(existsSync(join(x, f)), false, `${f} is left out`);
  assert.ok(existsSync(join(x, 'usr/share/proc/kept')));
});

test('verify names what is wrong: a flipped payload byte, a wrong key, a truncated payload', () => {
  const k = keys();
  const work = mkdtempSync(join(tmpdir(), 'img-'));
  const root = makeRootfs(join(work, 'root'), { randomKiB: 300 });
  const out = join(work, 'pkg');
  assert.equal(image('build', '--rootfs', root, '--version', '1.2.3', '--compatible', 'acme-va', '--key', join(k, 'signing.key'), '--out', out, '--chunk-size', '65536', '--compression', 'xz').code, 0);
  const payload = join(out, 'rootfs-1.2.3.tar.xz');
  const original = readFileSync(payload);
  const flipped = Buffer.from(original);
  flipped[200_000]! ^= 1;
  writeFileSync(payload, flipped);
  const bad = image('verify', '--package', out, '--pubkey', join(k, 'signing.pub'));
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim(), `twinroot-image: payload chunk 3 (of ${Math.ceil(original.length / 65536)}) does not match its hash`);
  writeFileSync(payload, original.subarray(0, 1000));
  assert.match(image('verify', '--package', out, '--pubkey', join(k, 'signing.pub')).stderr, /payload is 1000 bytes; the manifest says/);
  writeFileSync(payload, original);
  const other = keys();
  const wrong = image('verify', '--package', out, '--pubkey', join(other, 'signing.pub'));
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /signature does not match the pinned public key/);
});

test('bad arguments: one line, exit 2', () => {
  const cases: Array<[string[], RegExp]> = [
    [['build', '--rootfs', '/tmp', '--version', 'v2', '--compatible', 'x', '--key', 'k', '--out', 'o'], /--version must be a semantic version/],
    [['build', '--rootfs', '/tmp', '--disk', 'd.vmdk', '--version', '1.0.0'], /exactly one of --rootfs DIR or --disk FILE/],
    [['build', '--rootfs', '/tmp', '--version', '1.0.0', '--key', 'k', '--out', 'o'], /needs --compatible NAME/],
    [['build', '--rootfs', '/tmp', '--version', '1.0.0', '--compatible', 'x', '--key', 'k', '--out', 'o', '--compression', 'gzip'], /--compression must be zstd or xz/],
    [['build', '--rootfs', '/tmp', '--version', '1.0.0', '--compatible', 'x', '--key', 'k', '--out', 'o', '--cpu-level', 'v9'], /--cpu-level must be one of/],
    [['frobnicate'], /unknown command: frobnicate/],
    [['verify', '--package', 'x'], /verify needs --package DIR --pubkey KEY/],
  ];
  for (const [args, msg] of cases) {
    const r = image(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, msg);
  }
  const notRoot = image('build', '--rootfs', '/tmp', '--version', '1.0.0', '--compatible', 'x', '--key', '/nonexistent', '--out', mkdtempSync(join(tmpdir(), 'o-')));
  assert.equal(notRoot.code, 1);
  assert.match(notRoot.stderr, /--rootfs \/tmp is not a root filesystem/);
});

test('build --disk: a VM disk needs nbd and device-mapper, and says so clearly when they are missing', { skip: !isRoot && 'needs root' }, () => {
  const work = mkdtempSync(join(tmpdir(), 'img-disk-'));
  const disk = join(work, 'exported.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  const r = image('build', '--disk', disk, '--version', '1.0.0', '--compatible', 'x', '--key', join(keys(), 'signing.key'), '--out', join(work, 'pkg'));
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  // This machine has neither (see shared/notes); a machine that has them finds no root on a blank disk.
  assert.match(r.stderr, /nbd kernel module is not available|device-mapper is not available|no root filesystem found/);
  const missing = image('build', '--disk', join(work, 'missing.vmdk'), '--version', '1.0.0', '--compatible', 'x', '--key', 'k', '--out', join(work, 'p2'));
  assert.equal(missing.stderr.trim(), `twinroot-image: --disk ${join(work, 'missing.vmdk')} does not exist`);
});
