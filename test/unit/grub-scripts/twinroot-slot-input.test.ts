// twinroot-slot's input checks, on the host: every bad input is one line on stderr and exit 2,
// before anything touches a disk. (What the commands do is tested on a booted appliance: test/vm.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = 'grub-scripts/twinroot-slot';
const dir = mkdtempSync(join(tmpdir(), 'twinroot-slot-'));
const goodConfig = join(dir, 'good.conf');
writeFileSync(goodConfig, '# appliance\nVG=VA\nKERNEL_ARGS="rw console=ttyS0,115200"\nGRUB_SERIAL=yes\n');

function run(args: string[], config = goodConfig) {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, TWINROOT_SLOT_CONFIG: config } });
  return { code: r.status, err: r.stderr, out: r.stdout };
}

test('usage: --help prints the commands; no command or an unknown one is exit 2', () => {
  const help = run(['--help']);
  assert.equal(help.code, 0);
  for (const c of ['status', 'install', 'sync-config', 'boot-config', 'try', 'commit', 'rollback', 'health-check']) assert.match(help.out, new RegExp(`^  ${c} `, 'm'));
  assert.equal(run([]).code, 2);
  assert.deepEqual(run(['frobnicate']), { code: 2, out: '', err: "twinroot-slot: unknown command 'frobnicate' (see twinroot-slot --help)\n" });
});

test('bad arguments are refused with one line and exit 2', () => {
  const payload = join(dir, 'p.tar.zst');
  writeFileSync(payload, 'x');
  const cases: [string[], RegExp][] = [
    [['install', '--slot', 'C'], /^twinroot-slot: invalid slot 'C' \(expected A or B\)\n$/],
    [['install', '--slot', 'B'], /--payload FILE\|- is required/],
    [['install', '--slot', 'B', '--payload', join(dir, 'missing')], /cannot read payload/],
    [['install', '--slot', 'B', '--payload', payload, '--compression', 'gzip', '--version', '1.0.0'], /--compression must be zstd, xz or none/],
    [['install', '--slot', 'B', '--payload', payload, '--compression', 'zstd', '--version', '1.0;reboot'], /--version must be a semantic version/],
    [['install', '--slot'], /--slot needs a value/],
    [['boot-config', '--slot', 'A', '--force'], /boot-config: unknown option --force/],
    [['try'], /invalid slot ''/],
    [['sync-config', '--slot', 'A', '--list'], /--list needs a value/],
    [['rollback', '--now'], /rollback: unknown option --now/],
    [['status', '--yaml'], /status: unknown option --yaml/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re, args.join(' '));
    assert.equal(r.err.trim().split('\n').length, 1, `one line for ${args.join(' ')}`);
  }
});

test('slots.conf is parsed, never sourced: bad lines, unknown keys and unsafe values are refused', () => {
  const conf = (text: string) => {
    const f = join(dir, `c${Math.random().toString(36).slice(2)}.conf`);
    writeFileSync(f, text);
    return f;
  };
  const marker = join(dir, 'sourced');
  const cases: [string, RegExp][] = [
    [`touch ${marker}\n`, /:1: expected KEY=VALUE/],
    ['VG=VA\nBOGUS=1\n', /:2: unknown key BOGUS/],
    ['KERNEL_ARGS=quiet; reboot\n', /KERNEL_ARGS may contain only/],
    ['KERNEL_ARGS=$(reboot)\n', /KERNEL_ARGS may contain only/],
    ['VG=V A\n', /invalid VG\/LV name/],
    ['SLOT_A_LV=root\nSLOT_B_LV=root\n', /the same LV/],
    ['BOOT_DIR=boot\n', /BOOT_DIR must be an absolute path/],
    ['FS_TYPE=btrfs\n', /FS_TYPE must be/],
    ['GRUB_SERIAL=maybe\n', /GRUB_SERIAL must be yes or no/],
  ];
  for (const [text, re] of cases) {
    const r = run(['status'], conf(text));
    assert.equal(r.code, 2, text);
    assert.match(r.err, re, text);
  }
  assert.equal(spawnSync('test', ['-e', marker]).status, 1, 'the config file was not executed');
  assert.match(run(['status'], join(dir, 'nope.conf')).err, /config .*nope.conf does not exist/);
});
