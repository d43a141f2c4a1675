import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// packer/tools/make-ova.mjs with the real qemu-img and tar: what it packs passes its own check,
// and the check catches what a broken or tampered OVA looks like.
const tool = resolve(import.meta.dirname, '../../../packer/tools/make-ova.mjs');
const dir = mkdtempSync(join(tmpdir(), 'twinroot-ova-'));
const ova = (args: string[]) => spawnSync('node', [tool, ...args], { encoding: 'utf8' });

function packed(name: string, sizeMiB = 64): string {
  const disk = join(dir, `${name}.qcow2`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${sizeMiB}M`]);
  // Some data, so the stream-optimized disk has grains to compress.
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 2M', disk], { stdio: 'ignore' });
  const r = ova(['pack', '--disk', disk, '--out', join(dir, `${name}.ova`), '--cpus', '2', '--memory-mb', '2048']);
  assert.equal(r.status, 0, r.stderr);
  return join(dir, `${name}.ova`);
}

test('pack: OVF first, then manifest, then a stream-optimized VMDK of the disk\'s capacity; check agrees', () => {
  const file = packed('appliance');
  const members = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(members, ['appliance.ovf', 'appliance.mf', 'appliance-disk1.vmdk']);
  const ovf = execFileSync('tar', ['-xOf', file, 'appliance.ovf'], { encoding: 'utf8' });
  assert.match(ovf, /ovf:capacity="67108864"/);
  assert.match(ovf, /<rasd:VirtualQuantity>2048<\/rasd:VirtualQuantity>/);
  assert.match(ovf, /vmw:key="firmware" vmw:value="bios"/);
  const check = ova(['check', file]);
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /valid OVA \(appliance\.ovf, appliance\.mf, appliance-disk1\.vmdk; 1 stream-optimized disk, 67108864 bytes\)/);
  const out = join(dir, 'unpacked');
  execFileSync('mkdir', ['-p', out]);
  execFileSync('tar', ['-xf', file, '-C', out]);
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(out, 'appliance-disk1.vmdk')], { encoding: 'utf8' })) as { 'virtual-size': number; 'format-specific'?: { data?: { 'create-type'?: string } } };
  assert.equal(info['virtual-size'], 64 * 2 ** 20);
  assert.equal(info['format-specific']?.data?.['create-type'], 'streamOptimized');
});

test('check: a changed disk byte, a changed descriptor, a truncated archive, a wrong member order all fail with the reason', () => {
  const file = packed('t');
  const bytes = readFileSync(file);
  const at = (name: string) => bytes.indexOf(Buffer.from(name)); // a member's tar header
  const variant = (label: string, mutate: (b: Buffer) => Buffer) => {
    const f = join(dir, `${label}.ova`);
    writeFileSync(f, mutate(Buffer.from(bytes)));
    return ova(['check', f]);
  };
  const vmdkData = at('t-disk1.vmdk') + 512 + 70_000 > bytes.length ? at('t-disk1.vmdk') + 1024 : at('t-disk1.vmdk') + 512 + 70_000;
  let r = variant('disk-byte', (b) => ((b[vmdkData] ^= 0xff), b));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /t-disk1\.vmdk does not match its SHA256 in the manifest/);

  r = variant('ovf-byte', (b) => {
    const i = b.indexOf(Buffer.from('A twinroot A/B appliance'));
    b.write('B', i);
    return b;
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /t\.ovf does not match its SHA256 in the manifest/);

  r = variant('truncated', (b) => b.subarray(0, b.length - 20_000));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /truncated inside t-disk1\.vmdk/);

  const reordered = join(dir, 'reordered.ova');
  const x = join(dir, 'x');
  execFileSync('mkdir', ['-p', x]);
  execFileSync('tar', ['-xf', file, '-C', x]);
  execFileSync('tar', ['--format=ustar', '-C', x, '-cf', reordered, 't.mf', 't.ovf', 't-disk1.vmdk']);
  r = ova(['check', reordered]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the first member must be the \.ovf descriptor \(found t\.mf\)/);

  const notStream = join(dir, 'sparse.ova');
  execFileSync('qemu-img', ['convert', '-O', 'vmdk', join(dir, 't.qcow2'), join(x, 't-disk1.vmdk')]);
  execFileSync('tar', ['--format=ustar', '-C', x, '-cf', notStream, 't.ovf', 't.mf', 't-disk1.vmdk']);
  r = ova(['check', notStream]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /OVF says t-disk1\.vmdk is \d+ bytes; the archive has \d+|is a monolithicSparse VMDK, not streamOptimized/);
});

test('pack refuses bad input with one line and no archive', () => {
  let r = ova(['pack', '--disk', join(dir, 'nope.qcow2'), '--out', join(dir, 'nope.ova')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^make-ova: --disk .*nope\.qcow2 does not exist\n$/);
  r = ova(['pack', '--disk', join(dir, 'nope.qcow2'), '--out', join(dir, 'nope.tar')]);
  assert.match(r.stderr, /--out must end in \.ova/);
  r = ova(['pack', '--disk', join(dir, 'nope.qcow2'), '--out', join(dir, 'x.ova'), '--name', 'bad name;']);
  assert.match(r.stderr, /--name must be letters, digits/);
  r = ova(['frobnicate']);
  assert.equal(r.status, 2);
});
