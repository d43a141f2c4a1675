import { randomBytes } from 'node:crypto';
import { constants as fsConstants, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { Type, type Static } from '@sinclair/typebox';
import { compile, Slot, type Slot as SlotName } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';
import { ensureSlotDir, UnsafeSlotPath } from './slot-path.js';
import { SlotCommandError, otherSlot, type HealthReport, type InstallRequest, type SlotDriver, type SlotOperation } from './driver.js';
import { SlotStatus } from './status.js';
import { feed } from './feed.js';

/**
 * `dir` slots, for local demos and fleet simulation: each slot is a directory (<root>/A,
 * <root>/B) holding an extracted rootfs with its version in etc/twinroot/version; the boot
 * state (what GRUB's env holds on a real appliance) is <root>/bootstate.json; a "reboot" is an
 * agent restart, and `boot()` plays GRUB's part when the agent starts.
 */
const BootState = Type.Object({
  booted: Slot,
  committed: Slot,
  next: Type.Optional(Type.Union([Slot, Type.Null()])),
  bootable: Type.Optional(Type.Object({ A: Type.Optional(Type.Boolean()), B: Type.Optional(Type.Boolean()) })),
  bootCount: Type.Optional(Type.Integer({ minimum: 0 })),
});
type BootState = Static<typeof BootState>;
const validateBootState = compile(BootState);
const validateStatus = compile(SlotStatus);

/** What sync-config carries between dir slots (paths relative to a slot). */
export const DIR_SYNC_FILES = ['etc/hostname', 'etc/twinroot/agent.json'];

export class DirSlotDriver implements SlotDriver {
  readonly kind = 'dir';

  /** `sizeBytes`: the capacity each simulated slot reports (null: unknown, not checked). */
  constructor(readonly root: string, readonly sizeBytes: number | null = null) {}

  private readState(): BootState {
    const file = join(this.root, 'bootstate.json');
    if (!existsSync(file)) return { booted: 'A', committed: 'A', next: null };
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      throw new SlotCommandError('status', `${file} is not JSON`);
    }
    const v = validateBootState(raw);
    if (!v.ok) throw new SlotCommandError('status', `${file}: ${v.error}`);
    return v.value;
  }

  private writeState(s: BootState): void {
    mkdirSync(this.root, { recursive: true });
    writeFileAtomic(join(this.root, 'bootstate.json'), JSON.stringify(s, null, 2) + '\n', 0o644);
  }

  private version(slot: SlotName): string | null {
    const f = join(this.root, slot, 'etc/twinroot/version');
    if (!existsSync(f)) return null;
    const v = readFileSync(f, 'utf8').trim();
    return v === '' ? null : v;
  }

  private bootable(s: BootState, slot: SlotName): boolean {
    return slot === s.committed || s.bootable?.[slot] === true;
  }

  /** GRUB's part: a pending trial is booted once, otherwise the committed slot. */
  boot(): SlotName {
    const s = this.readState();
    const booted = s.next ?? s.committed;
    this.writeState({ ...s, booted, next: null, bootCount: (s.bootCount ?? 0) + 1 });
    return booted;
  }

  bootId(): string {
    return `dir-boot-${this.readState().bootCount ?? 0}`;
  }

  async status() {
    const s = this.readState();
    const candidate = {
      bootedSlot: s.booted,
      committedSlot: s.committed,
      trial: s.booted !== s.committed,
      nextBoot: s.next ?? null,
      slots: Object.fromEntries((['A', 'B'] as const).map((slot) => [slot, { version: this.version(slot), path: join(this.root, slot), bootable: this.bootable(s, slot), sizeBytes: this.sizeBytes }])),
    };
    const v = validateStatus(candidate);
    if (!v.ok) throw new SlotCommandError('status', `dir slots at ${this.root}: ${v.error}`);
    return v.value;
  }

  async install(req: InstallRequest) {
    const s = this.readState();
    if (req.slot === s.booted) throw new SlotCommandError('install', `refusing to install into slot ${req.slot}: it is the booted slot`);
    if (req.slot === s.committed) throw new SlotCommandError('install', `refusing to install into slot ${req.slot}: it is the committed slot`);
    const fromStream = req.payloadFile === '-';
    if (fromStream && !req.payloadStream) throw new SlotCommandError('install', 'payload "-" needs a payload stream');
    if (!fromStream && !existsSync(req.payloadFile)) throw new SlotCommandError('install', `payload ${req.payloadFile} does not exist`);
    if (s.next === req.slot) this.writeState({ ...s, next: null });
    const dir = join(this.root, req.slot);
    // Start over: an interrupted earlier install leaves a directory without a version marker.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const input = fromStream ? [] : ['--', req.payloadFile];
    const decompress = req.compression === 'zstd' ? ['zstd', ['-q', '-dc', ...input]] : ['xz', ['-dc', ...input]];
    const tarArgs = ['-x', '-C', dir, '--exclude=etc/twinroot/version', ...(process.getuid?.() === 0 ? ['--numeric-owner'] : ['--no-same-owner']), '-f', '-'];
    try {
      // buffer: false — execa would otherwise keep the decompressed stream for its result and kill
      // the decompressor past maxBuffer (100 MB): a real root filesystem is far larger.
      const sub = execa(decompress[0] as string, decompress[1] as string[], { buffer: { stdout: false }, ...(req.signal ? { cancelSignal: req.signal } : {}) });
      if (fromStream) feed(req.payloadStream!, sub);
      await sub.pipe('tar', tarArgs);
    } catch (err) {
      const e = err as { shortMessage?: string; stderr?: unknown; message: string };
      const why = typeof e.stderr === 'string' && e.stderr.trim() ? `: ${e.stderr.trim().split('\n').slice(-2).join('; ')}` : '';
      throw new SlotCommandError('install', `extracting the payload into slot ${req.slot} failed: ${e.shortMessage ?? e.message}${why}`);
    }
    if (!existsSync(join(dir, 'etc'))) throw new SlotCommandError('install', 'the payload is not a root filesystem (no etc/)');
    writeFileAtomic(join(this.slotDir('install', req.slot, 'etc/twinroot'), 'version'), req.version + '\n', 0o644);
    const after = this.readState();
    this.writeState({ ...after, bootable: { ...after.bootable, [req.slot]: false } });
  }

  /** A directory inside a slot, every component checked (no links), as a slot command error otherwise. */
  private slotDir(op: SlotOperation, slot: SlotName, rel: string): string {
    try {
      return ensureSlotDir(join(this.root, slot), rel);
    } catch (err) {
      if (err instanceof UnsafeSlotPath) throw new SlotCommandError(op, err.message);
      throw err;
    }
  }

  private requireInstalled(op: SlotOperation, slot: SlotName): void {
    if (!this.version(slot)) throw new SlotCommandError(op, `slot ${slot} has no installed system (run install first)`);
  }

  async syncConfig(slot: SlotName) {
    const s = this.readState();
    if (slot === s.booted) throw new SlotCommandError('sync-config', `refusing to sync into slot ${slot}: it is the booted slot`);
    this.requireInstalled('sync-config', slot);
    for (const rel of DIR_SYNC_FILES) {
      const src = join(this.root, s.booted, rel);
      if (!existsSync(src)) continue;
      // A fresh name, created exclusively (COPYFILE_EXCL), renamed over the target: no link planted in the slot is followed.
      const dst = join(this.slotDir('sync-config', slot, dirname(rel)), basename(rel));
      const tmp = `${dst}.${randomBytes(6).toString('hex')}.twinroot-new`;
      copyFileSync(src, tmp, fsConstants.COPYFILE_EXCL);
      renameSync(tmp, dst);
    }
  }

  async bootConfig(slot: SlotName) {
    this.requireInstalled('boot-config', slot);
    const s = this.readState();
    this.writeState({ ...s, bootable: { ...s.bootable, [slot]: true } });
  }

  async tryBoot(slot: SlotName) {
    const s = this.readState();
    if (slot === s.booted) throw new SlotCommandError('try', `slot ${slot} is the booted slot`);
    this.requireInstalled('try', slot);
    if (!this.bootable(s, slot)) throw new SlotCommandError('try', `slot ${slot} is not bootable yet (run boot-config first)`);
    this.writeState({ ...s, next: slot });
  }

  async commit() {
    const s = this.readState();
    // The slot committed until now stays bootable: it is what a rollback returns to.
    this.writeState({ ...s, committed: s.booted, next: null, bootable: { ...s.bootable, [s.committed]: true, [s.booted]: true } });
  }

  async rollback() {
    const s = this.readState();
    const target = otherSlot(s.booted);
    this.requireInstalled('rollback', target);
    if (!this.bootable(s, target)) throw new SlotCommandError('rollback', `slot ${target} is not bootable; refusing to roll back`);
    this.writeState({ ...s, committed: target, next: null });
    return target;
  }

  /** The booted slot has a version; executables in its etc/twinroot/health.d pass. */
  async healthCheck(): Promise<HealthReport> {
    const s = this.readState();
    const checks: HealthReport['checks'] = [];
    const version = this.version(s.booted);
    checks.push({ name: 'slot-version', ok: version !== null, exitCode: version ? 0 : 1, output: version ? `slot ${s.booted} runs ${version}` : `slot ${s.booted} has no version`, durationMs: 0 });
    const dir = join(this.root, s.booted, 'etc/twinroot/health.d');
    const names = existsSync(dir) ? readdirSync(dir).sort() : [];
    for (const name of names) {
      const file = join(dir, name);
      if (!statSync(file).isFile() || (statSync(file).mode & 0o111) === 0) continue;
      const started = Date.now();
      const r = await execa(file, [], { reject: false, timeout: 60_000, all: true, env: { TWINROOT_BOOTED_SLOT: s.booted } });
      checks.push({ name, ok: r.exitCode === 0, exitCode: r.exitCode ?? 124, output: (r.all ?? '').slice(0, 2000), durationMs: Date.now() - started });
    }
    return { ok: checks.every((c) => c.ok), checks };
  }
}
