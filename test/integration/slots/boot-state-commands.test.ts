// The GRUB state commands (status, try, commit, rollback) on the host, the way RAUC tests its
// bootloader backends: grub-scripts' real twinroot-slot against fake grub-editenv, findmnt,
// debugfs, blkid and blockdev in a private mount namespace (test/helpers/fake-slot-host). Then
// one scenario table run against both slot drivers — `dir` and `lvm-grub` (that script) — so
// the two cannot drift apart. Installing into a slot needs real LVs: test/vm does that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirSlotDriver, lvmGrubDriver, type SlotDriver } from '@twinroot/agent';
import type { Slot } from '@twinroot/protocol';
import { calls, canFakeSlotHost, grubBoot, grubenv, makeFakeSlotHost, RUN_SLOT, runSlot, type FakeSlotHostOptions } from '../../helpers/fake-slot-host.js';

const skip = canFakeSlotHost ? false : 'needs root and `unshare -m` (fake tools in a private mount namespace)';
const fresh = (o: FakeSlotHostOptions = {}) => makeFakeSlotHost(mkdtempSync(join(tmpdir(), 'twinroot-fakehost-')), { versions: { A: '1.0.0', B: '2.0.0' }, ...o });

/** sha256 of every file under /boot except grubenv: what try/commit/rollback must never change. */
function bootTreeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name !== 'grubenv') h.update(p).update(readFileSync(p));
    }
  };
  walk(join(dir, 'boot'));
  return h.digest('hex');
}

test('twinroot-slot try / commit / rollback change only grubenv, through grub-editenv (fake tools)', { skip }, () => {
  const d = fresh();
  const tree = bootTreeHash(d);
  const status = JSON.parse(runSlot(d, ['status', '--json']).out) as { bootedSlot: string; committedSlot: string; trial: boolean; slots: Record<string, { version: string; bootable: boolean }> };
  assert.deepEqual([status.bootedSlot, status.committedSlot, status.trial, status.slots.B!.version, status.slots.B!.bootable], ['A', 'A', false, '2.0.0', true]);
  assert.deepEqual(runSlot(d, ['try', '--slot', 'B', '--json']), { code: 0, out: '{"nextBoot":"B","committedSlot":"A"}\n', err: '' });
  assert.match(grubenv(d), /^next_entry=twinroot-B$/m);
  assert.equal(grubBoot(d), 'B');
  assert.doesNotMatch(grubenv(d), /next_entry/, 'GRUB cleared the one-time entry');
  assert.deepEqual(runSlot(d, ['commit', '--json']), { code: 0, out: '{"committedSlot":"B","previous":"A"}\n', err: '' });
  assert.deepEqual(runSlot(d, ['rollback', '--json']), { code: 0, out: '{"committedSlot":"A","reboot":false}\n', err: '' });
  assert.equal(bootTreeHash(d), tree, 'kernels, grub.cfg and the prefix are untouched');
  const writes = calls(d).filter((c) => / (set|unset|create) /.test(c));
  assert.deepEqual(writes, ['grub-editenv set next_entry=twinroot-B', 'grub-editenv set saved_entry=twinroot-B', 'grub-editenv unset next_entry', 'grub-editenv set saved_entry=twinroot-A', 'grub-editenv unset next_entry']);
  // rollback --reboot runs the configured reboot command after the switch.
  runSlot(d, ['rollback', '--reboot']);
  assert.equal(calls(d).at(-1), 'reboot');
});

test('twinroot-slot refuses, with one line and exit 1, what would leave no way back (fake tools)', { skip }, () => {
  const onlyA = fresh({ bootable: ['A'] });
  const one = (r: ReturnType<typeof runSlot>, re: RegExp) => {
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, re);
    assert.equal(r.err.trim().split('\n').length, 1);
  };
  one(runSlot(onlyA, ['try', '--slot', 'A']), /slot A is the booted slot/);
  one(runSlot(onlyA, ['try', '--slot', 'B']), /slot B is not bootable yet/);
  one(runSlot(onlyA, ['rollback']), /slot B is not bootable .*refusing to roll back/);
  const noB = fresh({ versions: { A: '1.0.0' } });
  one(runSlot(noB, ['try', '--slot', 'B']), /slot B has no installed system/);
  one(runSlot(noB, ['rollback']), /nothing to roll back to/);
  const noCommitted = fresh();
  writeFileSync(join(noCommitted, 'boot/twinroot/grubenv'), '# GRUB Environment Block\n');
  one(runSlot(noCommitted, ['try', '--slot', 'B']), /no committed slot .*refusing a trial boot without a fallback/);
  for (const d of [onlyA, noB, noCommitted]) assert.deepEqual(calls(d).filter((c) => / (set|unset) /.test(c)), [], 'nothing written');
});

// ── One scenario table, both drivers ──

type Step = 'try B' | 'try A' | 'commit' | 'rollback' | 'reboot';
interface Expect { booted: Slot; committed: Slot; trial: boolean; next: Slot | null }
interface Scenario { name: string; bootable?: Slot[]; steps: Array<[Step, Expect | RegExp]> }

const at = (booted: Slot, committed: Slot, next: Slot | null = null): Expect => ({ booted, committed, trial: booted !== committed, next });

const SCENARIOS: Scenario[] = [
  { name: 'a healthy trial is committed and stays', steps: [['try B', at('A', 'A', 'B')], ['reboot', at('B', 'A')], ['commit', at('B', 'B')], ['reboot', at('B', 'B')]] },
  { name: 'an unhealthy trial is rolled back and the next boot is the old slot', steps: [['try B', at('A', 'A', 'B')], ['reboot', at('B', 'A')], ['rollback', at('B', 'A')], ['reboot', at('A', 'A')]] },
  { name: 'a trial nobody commits is booted once only', steps: [['try B', at('A', 'A', 'B')], ['reboot', at('B', 'A')], ['reboot', at('A', 'A')]] },
  { name: 'commit and rollback are idempotent', steps: [['try B', at('A', 'A', 'B')], ['reboot', at('B', 'A')], ['commit', at('B', 'B')], ['commit', at('B', 'B')], ['rollback', at('B', 'A')], ['rollback', at('B', 'A')]] },
  { name: 'after a commit, a rollback returns to the previous slot', steps: [['try B', at('A', 'A', 'B')], ['reboot', at('B', 'A')], ['commit', at('B', 'B')], ['reboot', at('B', 'B')], ['rollback', at('B', 'A')], ['reboot', at('A', 'A')]] },
  { name: 'the booted slot cannot be tried', steps: [['try A', /is the booted slot/], ['reboot', at('A', 'A')]] },
  { name: 'a slot that is not bootable is neither tried nor rolled back to', bootable: ['A'], steps: [['try B', /not bootable/], ['rollback', /refusing to roll back/], ['reboot', at('A', 'A')]] },
];

interface Rig { driver: SlotDriver; reboot(): void }

function dirRig(s: Scenario): Rig {
  const root = mkdtempSync(join(tmpdir(), 'twinroot-dirrig-'));
  for (const [slot, v] of [['A', '1.0.0'], ['B', '2.0.0']] as const) {
    mkdirSync(join(root, slot, 'etc/twinroot'), { recursive: true });
    writeFileSync(join(root, slot, 'etc/twinroot/version'), `${v}\n`);
  }
  const bootable = s.bootable ?? ['A', 'B'];
  writeFileSync(join(root, 'bootstate.json'), JSON.stringify({ booted: 'A', committed: 'A', next: null, bootable: { A: bootable.includes('A'), B: bootable.includes('B') } }));
  const driver = new DirSlotDriver(root);
  return { driver, reboot: () => void driver.boot() };
}

function lvmRig(s: Scenario): Rig {
  const d = fresh(s.bootable ? { bootable: s.bootable } : {});
  return { driver: lvmGrubDriver(['bash', RUN_SLOT, d]), reboot: () => void grubBoot(d) };
}

async function play(rig: Rig, s: Scenario): Promise<string[]> {
  const seen: string[] = [];
  for (const [step, expected] of s.steps) {
    let error: Error | null = null;
    try {
      if (step === 'reboot') rig.reboot();
      else if (step === 'commit') await rig.driver.commit();
      else if (step === 'rollback') await rig.driver.rollback();
      else await rig.driver.tryBoot(step === 'try A' ? 'A' : 'B');
    } catch (err) {
      error = err as Error;
    }
    if (expected instanceof RegExp) {
      assert.ok(error, `${s.name}: ${step} must be refused`);
      assert.match(error.message, expected, `${s.name}: ${step}`);
      seen.push(`${step}: refused`);
      continue;
    }
    assert.equal(error, null, `${s.name}: ${step}: ${error?.message}`);
    const st = await rig.driver.status();
    const got: Expect = { booted: st.bootedSlot, committed: st.committedSlot, trial: st.trial, next: st.nextBoot ?? null };
    assert.deepEqual(got, expected, `${s.name}: after ${step}`);
    seen.push(`${step}: ${JSON.stringify(got)}`);
  }
  return seen;
}

for (const s of SCENARIOS) {
  test(`both slot drivers: ${s.name}`, { skip }, async () => {
    const viaDir = await play(dirRig(s), s);
    const viaScript = await play(lvmRig(s), s);
    assert.deepEqual(viaScript, viaDir, 'dir and lvm-grub agree step by step');
  });
}
