// The pure parts of the upgrade: state transitions and resume points, CPU levels, pre-checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canTransition, cpuFlags, cpuLevelOf, isFinished, missingForLevel, precheck, ProgressMeter, RESUME_LIMIT, startingState, stateAfterResumeLimit, UPGRADE_STATES, type ApplianceFacts, type UpgradeState } from '@twinroot/agent';
import type { Manifest } from '@twinroot/protocol';

test('the state machine only moves forward, and every state can fail until the switch', () => {
  const path = ['idle', 'downloading', 'verified', 'installing', 'boot_configured', 'rebooting', 'trial', 'committed'] as const;
  for (let i = 0; i + 1 < path.length; i++) assert.ok(canTransition(path[i]!, path[i + 1]!), `${path[i]} → ${path[i + 1]}`);
  assert.ok(canTransition('trial', 'rolling_back') && canTransition('rolling_back', 'rolled_back'));
  assert.ok(canTransition('rebooting', 'rolled_back'), 'GRUB fell back: the trial never ran');
  for (const s of ['idle', 'downloading', 'verified', 'installing', 'boot_configured', 'rebooting'] as const) assert.ok(canTransition(s, 'failed'), s);
  for (const s of ['committed', 'rolled_back', 'failed'] as const) for (const t of UPGRADE_STATES) assert.equal(canTransition(s, t), false, `${s} is final`);
  assert.equal(canTransition('verified', 'downloading'), false);
  assert.equal(canTransition('trial', 'failed'), false, 'a trial ends in commit or rollback, never just "failed"');
});

test('where each mode is finished, and where the crash-loop guard sends a state', () => {
  const table: Array<[UpgradeState, 'download' | 'install' | 'install-reboot', boolean]> = [
    ['idle', 'download', false],
    ['downloading', 'install-reboot', false],
    ['verified', 'download', true],
    ['verified', 'install', false],
    ['boot_configured', 'install', true],
    ['boot_configured', 'install-reboot', false],
    ['rebooting', 'install-reboot', false],
    ['trial', 'install-reboot', false],
    ['committed', 'install-reboot', true],
    ['failed', 'download', true],
  ];
  for (const [state, mode, done] of table) assert.equal(isFinished(state, mode), done, `${state}/${mode}`);
  // Before the switch the upgrade fails; in the trial it rolls back; a crash-looping rollback just reboots.
  for (const s of ['idle', 'downloading', 'verified', 'installing', 'boot_configured', 'rebooting'] as const) assert.equal(stateAfterResumeLimit(s), 'failed', s);
  assert.equal(stateAfterResumeLimit('trial'), 'rolling_back');
  assert.equal(stateAfterResumeLimit('rolling_back'), 'rolled_back');
  for (const s of UPGRADE_STATES) if (!isFinished(s, 'install-reboot')) assert.ok(canTransition(s, stateAfterResumeLimit(s)), `the guard's transition from ${s} exists`);
  assert.equal(RESUME_LIMIT, 3);
});

test('a new task reuses an earlier task\'s download or install only for the same payload', () => {
  const next = { version: '2.0.0', payloadSha256: 'a'.repeat(64) };
  const prev = (state: Parameters<typeof startingState>[0] extends infer P ? P extends { state: infer S } ? S : never : never) => ({ state, version: '2.0.0', payloadSha256: 'a'.repeat(64) });
  assert.equal(startingState(null, next), 'idle');
  assert.equal(startingState(prev('verified'), next), 'verified');
  assert.equal(startingState(prev('installing'), next), 'verified');
  assert.equal(startingState(prev('downloading'), next), 'downloading');
  assert.equal(startingState(prev('boot_configured'), next), 'boot_configured');
  assert.equal(startingState(prev('failed'), next), 'idle');
  assert.equal(startingState(prev('committed'), next), 'idle');
  assert.equal(startingState({ ...prev('verified'), payloadSha256: 'b'.repeat(64) }, next), 'idle', 're-signed release with another payload');
  assert.equal(startingState({ ...prev('verified'), version: '1.9.0' }, next), 'idle');
});

const V2 = 'flags : fpu cx8 cmov mmx fxsr sse sse2 lm pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm\n';
test('CPU levels from /proc/cpuinfo flags', () => {
  assert.equal(cpuLevelOf(cpuFlags(`processor : 0\n${V2}processor : 1\n`)), 'x86-64-v2');
  assert.equal(cpuLevelOf(cpuFlags(V2.replace(' popcnt', ''))), 'x86-64');
  assert.deepEqual(missingForLevel(cpuFlags(V2.replace(' sse4_2', '')), 'x86-64-v2'), ['sse4_2']);
  assert.equal(cpuLevelOf(cpuFlags(`${V2.trim()} avx avx2 bmi1 bmi2 f16c fma abm movbe xsave\n`)), 'x86-64-v3');
  assert.equal(cpuLevelOf(cpuFlags('Features : fp asimd\n')), null, 'not x86');
});

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const manifest = (over: Partial<Manifest> = {}): Manifest => ({
  format: 1, version: '2.0.0', compatible: 'acme-va', requires: { cpuLevel: 'x86-64-v2', minDiskBytes: 4 * GiB },
  payload: { file: 'p.tar.zst', compression: 'zstd', size: GiB, sha256: 'a'.repeat(64), chunkSize: 8 * MiB, chunks: Array(128).fill('a'.repeat(64)) },
  createdAt: '2026-11-01T00:00:00Z', ...over,
});
const facts = (over: Partial<ApplianceFacts> = {}): ApplianceFacts => ({
  compatible: 'acme-va', cpuFlags: cpuFlags(V2), committedVersion: '1.0.0', runningVersion: '1.0.0', agentVersion: '0.1.0',
  downloadFreeBytes: 2 * GiB, alreadyDownloadedBytes: 0, slotSizeBytes: 8 * GiB, ...over,
});

test('pre-checks: each failure named, all reported together', () => {
  assert.deepEqual(precheck(manifest(), facts()), []);
  const codes = (f: Partial<ApplianceFacts>, m: Partial<Manifest> = {}, o = {}) => precheck(manifest(m), facts(f), o).map((x) => x.code);
  assert.deepEqual(codes({ compatible: 'other' }), ['incompatible']);
  assert.deepEqual(codes({ compatible: null }), ['incompatible']);
  assert.deepEqual(codes({ cpuFlags: cpuFlags(V2.replace(' sse4_2', '')) }), ['cpu_level']);
  assert.deepEqual(codes({ committedVersion: '2.1.0' }), ['downgrade']);
  assert.deepEqual(codes({ committedVersion: '2.1.0' }, {}, { allowDowngrade: true }), []);
  assert.deepEqual(codes({ committedVersion: '2.0.0-rc.1' }), [], 'a release after its release candidate is an upgrade');
  assert.deepEqual(codes({}, { minAgentVersion: '0.2.0' }), ['agent_too_old']);
  assert.deepEqual(codes({ downloadFreeBytes: GiB }), ['no_space'], 'the payload plus a reserve must fit');
  assert.deepEqual(codes({ downloadFreeBytes: GiB / 2, alreadyDownloadedBytes: GiB - MiB }), [], 'a resume needs only the rest');
  assert.deepEqual(codes({ slotSizeBytes: GiB }), ['slot_too_small']);
  assert.deepEqual(codes({ slotSizeBytes: null }), [], 'unknown slot size: not checked');
  assert.deepEqual(codes({ compatible: 'x', committedVersion: '9.0.0', slotSizeBytes: 1 }), ['incompatible', 'downgrade', 'slot_too_small']);
});

test('progress: rate over a sliding window, ETA, and a bounded report rate', () => {
  let t = 0;
  const m = new ProgressMeter(1000, 0, 250, () => t);
  t = 100;
  assert.equal(m.update(10), null, 'not before the interval');
  t = 1000;
  const p = m.update(100)!;
  assert.equal(p.rateBytesPerSecond, 100);
  assert.equal(p.etaSeconds, 9);
  assert.equal(p.percent, 10);
  t = 1100;
  assert.equal(m.update(110), null);
  assert.equal(m.final(1000).percent, 100);
});
