// The lvm-grub driver's argument arrays and how it reads twinroot-slot's answers. The script
// itself runs in the VM tests (test/vm); here a recording runner stands in for the process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lvmGrubDriver, slotArgs, SlotCommandError, type CommandRunner } from '@twinroot/agent';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

test('slotArgs builds one argument per value, with --json', () => {
  assert.deepEqual(slotArgs.install({ slot: 'B', payloadFile: '/data/twinroot/downloads/r1/payload.tar.zst', compression: 'zstd', version: '2.1.0-rc.1' }), [
    'install', '--slot', 'B', '--payload', '/data/twinroot/downloads/r1/payload.tar.zst', '--compression', 'zstd', '--version', '2.1.0-rc.1', '--json',
  ]);
  assert.deepEqual(slotArgs.syncConfig('A'), ['sync-config', '--slot', 'A', '--json']);
  assert.deepEqual(slotArgs.bootConfig('B'), ['boot-config', '--slot', 'B', '--json']);
  assert.deepEqual(slotArgs.tryBoot('B'), ['try', '--slot', 'B', '--json']);
  assert.deepEqual(slotArgs.commit(), ['commit', '--json']);
  assert.deepEqual(slotArgs.rollback(), ['rollback', '--json']);
  assert.deepEqual(slotArgs.healthCheck(), ['health-check', '--json']);
  // A path with spaces or shell characters stays one argument; nothing is interpreted.
  assert.equal(slotArgs.install({ slot: 'A', payloadFile: '/tmp/a b;$(reboot).tar', compression: 'xz', version: '1.0.0' })[4], '/tmp/a b;$(reboot).tar');
});

test('slotArgs refuses values that could be read as options or are not what the script accepts', () => {
  const base = { slot: 'B' as const, payloadFile: '/p.tar.zst', compression: 'zstd' as const, version: '1.0.0' };
  assert.throws(() => slotArgs.install({ ...base, payloadFile: '--help' }), /absolute/);
  assert.throws(() => slotArgs.install({ ...base, payloadFile: 'relative/p.tar' }), /absolute/);
  assert.throws(() => slotArgs.install({ ...base, version: '--reboot' }), /semantic version/);
  assert.throws(() => slotArgs.install({ ...base, compression: 'gzip' as never }), /compression/);
  assert.throws(() => slotArgs.install({ ...base, slot: 'C' as never }), /invalid slot/);
  assert.throws(() => slotArgs.tryBoot('--slot' as never), SlotCommandError);
});

function recorder(answers: Record<string, { exitCode: number; stdout?: string; stderr?: string }>) {
  const calls: { file: string; args: string[] }[] = [];
  const run: CommandRunner = async (file, args) => {
    calls.push({ file, args });
    const command = args.find((a) => ['status', 'install', 'sync-config', 'boot-config', 'try', 'commit', 'rollback', 'health-check'].includes(a)) ?? '';
    const a = answers[command] ?? { exitCode: 0 };
    return { exitCode: a.exitCode, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
  };
  return { calls, run };
}

const status = { bootedSlot: 'A', committedSlot: 'A', trial: false, nextBoot: null, slots: { A: { version: '1.0.0', lv: 'VA/root' }, B: { version: null } } };

test('the driver runs the configured command (prefix kept) and parses status and health reports', async () => {
  const { calls, run } = recorder({
    status: { exitCode: 0, stdout: JSON.stringify(status) },
    'health-check': { exitCode: 1, stdout: JSON.stringify({ ok: false, checks: [{ name: '20-network', ok: false, exitCode: 1, output: 'no default route', durationMs: 3 }] }) },
  });
  const d = lvmGrubDriver(['/usr/bin/sudo', '/usr/lib/twinroot/twinroot-slot'], run);
  const s = await d.status();
  assert.equal(s.bootedSlot, 'A');
  assert.deepEqual(calls[0], { file: '/usr/bin/sudo', args: ['/usr/lib/twinroot/twinroot-slot', 'status', '--json'] });
  // Exit 1 from health-check is a report, not an error.
  const h = await d.healthCheck();
  assert.equal(h.ok, false);
  assert.equal(h.checks[0]!.name, '20-network');
  // rollback answers which slot is now the default.
  assert.equal(await d.rollback(), 'B');
  assert.deepEqual(calls.at(-1)!.args.slice(1), ['rollback', '--json']);
});

test('a failing command becomes a SlotCommandError carrying the script\'s one-line reason', async () => {
  const { run } = recorder({ install: { exitCode: 1, stderr: 'twinroot-slot: refusing to install into slot A: it is the booted slot' } });
  const d = lvmGrubDriver(['/usr/lib/twinroot/twinroot-slot'], run);
  await assert.rejects(d.install({ slot: 'A', payloadFile: '/p.tar.zst', compression: 'zstd', version: '2.0.0' }), (err: Error) => {
    assert.ok(err instanceof SlotCommandError);
    assert.equal(err.message, 'install failed: twinroot-slot: refusing to install into slot A: it is the booted slot');
    return true;
  });
});

test('output that is not JSON, or not the status contract, is an error', async () => {
  const notJson = lvmGrubDriver(['x'], recorder({ status: { exitCode: 0, stdout: 'booted: A' } }).run);
  await assert.rejects(notJson.status(), /not JSON/);
  const wrong = lvmGrubDriver(['x'], recorder({ status: { exitCode: 0, stdout: JSON.stringify({ ...status, bootedSlot: 'C' }) } }).run);
  await assert.rejects(wrong.status(), /unexpected output/);
  const badHealth = lvmGrubDriver(['x'], recorder({ 'health-check': { exitCode: 2, stderr: 'twinroot-slot: health-check: unknown option --x' } }).run);
  await assert.rejects(badHealth.healthCheck(), /unknown option/);
});

test('install from a stream: "--payload -" and the stream on twinroot-slot\'s stdin (real process)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-lvm-stdin-'));
  const fake = join(dir, 'fake-twinroot-slot');
  // Stands in for twinroot-slot: records its arguments and what arrives on stdin.
  writeFileSync(fake, `#!/bin/bash\nprintf '%s\\n' "$@" > "${dir}/args"\ncat > "${dir}/stdin"\necho '{}'\n`, { mode: 0o755 });
  const driver = lvmGrubDriver([fake]);
  const data = Buffer.alloc(3 * 1024 * 1024, 7);
  await driver.install({ slot: 'B', payloadFile: '-', payloadStream: Readable.from([data.subarray(0, 1000), data.subarray(1000)]), compression: 'zstd', version: '2.0.0' });
  assert.deepEqual(readFileSync(join(dir, 'args'), 'utf8').trim().split('\n'), ['install', '--slot', 'B', '--payload', '-', '--compression', 'zstd', '--version', '2.0.0', '--json']);
  assert.deepEqual(readFileSync(join(dir, 'stdin')), data);
  await assert.rejects(driver.install({ slot: 'B', payloadFile: '-', compression: 'zstd', version: '2.0.0' }), /needs a payload stream/);
});
