// Security #4 on the host: twinroot-slot's writes into a mounted slot never follow a link the
// payload planted (the slot is a plain directory here; the functions are sourced from lib/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LIB = 'grub-scripts/lib';

/** Runs a bash snippet with twinroot-slot's common, slot-paths and sync-config functions loaded. */
function sh(script: string, ...args: string[]) {
  const prelude = `set -euo pipefail; for p in common slot-paths cmd-sync-config; do . ${LIB}/$p.sh; done\n`;
  const r = spawnSync('bash', ['-c', prelude + script, '_', ...args], { encoding: 'utf8' });
  return { code: r.status, err: r.stderr.trim() };
}

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-slotpaths-'));
  const host = join(dir, 'host');
  const slot = join(dir, 'slot');
  mkdirSync(join(host, 'etc'), { recursive: true });
  mkdirSync(join(slot, 'etc/twinroot'), { recursive: true });
  writeFileSync(join(host, 'etc/victim'), 'host file\n');
  chmodSync(join(host, 'etc/victim'), 0o644);
  return { dir, host, slot };
}

test('slot_write replaces a planted link instead of writing through it, and refuses a linked directory', () => {
  const { host, slot } = fixture();
  symlinkSync(join(host, 'etc/victim'), join(slot, 'etc/twinroot/version'));
  symlinkSync(join(host, 'etc/victim'), join(slot, 'etc/twinroot/version.tmp'));
  assert.equal(sh('echo 2.0.0 | slot_write "$1" etc/twinroot/version 0644', slot).code, 0);
  assert.equal(readFileSync(join(host, 'etc/victim'), 'utf8'), 'host file\n');
  assert.equal(readFileSync(join(slot, 'etc/twinroot/version'), 'utf8'), '2.0.0\n');
  assert.equal(statSync(join(slot, 'etc/twinroot/version')).mode & 0o777, 0o644);

  symlinkSync(join(host, 'etc'), join(slot, 'etc/linked'));
  const r = sh('echo x | slot_write "$1" etc/linked/victim 0644', slot);
  assert.equal(r.code, 1);
  assert.match(r.err, /^twinroot-slot: refusing to write through .*etc\/linked: it is a symbolic link in the slot$/);
  assert.equal(readFileSync(join(host, 'etc/victim'), 'utf8'), 'host file\n');
  assert.equal(sh('slot_write "$1" etc/../x 0644 </dev/null', slot).code, 1);
});

test('merge_accounts keeps the slot file\'s mode, ignores planted .twinroot-new links, and refuses a linked shadow', () => {
  const { dir, host, slot } = fixture();
  writeFileSync(join(dir, 'src-shadow'), 'root:*:1::::::\nalice:$6$secret:1::::::\n');
  writeFileSync(join(dir, 'names'), 'alice\n');
  writeFileSync(join(slot, 'etc/shadow'), 'root:*:1::::::\n');
  chmodSync(join(slot, 'etc/shadow'), 0o640);
  symlinkSync(join(host, 'etc/victim'), join(slot, 'etc/shadow.twinroot-new'));
  assert.equal(sh('merge_accounts "$1" "$2" etc/shadow "$3"', join(dir, 'src-shadow'), slot, join(dir, 'names')).code, 0);
  assert.equal(readFileSync(join(host, 'etc/victim'), 'utf8'), 'host file\n');
  assert.match(readFileSync(join(slot, 'etc/shadow'), 'utf8'), /^alice:\$6\$secret:/m);
  assert.equal(statSync(join(slot, 'etc/shadow')).mode & 0o777, 0o640, 'not widened');

  const linked = fixture();
  symlinkSync(join(linked.host, 'etc/victim'), join(linked.slot, 'etc/shadow'));
  const r = sh('merge_accounts "$1" "$2" etc/shadow "$3"', join(dir, 'src-shadow'), linked.slot, join(dir, 'names'));
  assert.equal(r.code, 1);
  assert.match(r.err, /refusing to rewrite .*etc\/shadow: it is a symbolic link in the slot/);
  assert.equal(readFileSync(join(linked.host, 'etc/victim'), 'utf8'), 'host file\n');
  assert.equal(statSync(join(linked.host, 'etc/victim')).mode & 0o777, 0o644);
});

test('sync_copy copies into the slot through fresh names; a linked parent directory is refused', () => {
  const { dir, host, slot } = fixture();
  const src = join(dir, 'conf/app.conf');
  mkdirSync(join(dir, 'conf'));
  writeFileSync(src, 'setting=1\n');
  const rel = src.slice(1);
  mkdirSync(join(slot, rel, '..'), { recursive: true });
  symlinkSync(join(host, 'etc/victim'), join(slot, `${rel}.twinroot-new`));
  assert.equal(sh('sync_copy "$1" "$2"', src, slot).code, 0);
  assert.equal(readFileSync(join(slot, rel), 'utf8'), 'setting=1\n');
  assert.equal(readFileSync(join(host, 'etc/victim'), 'utf8'), 'host file\n');

  const other = fixture();
  const top = rel.split('/')[0]!;
  symlinkSync(other.host, join(other.slot, top));
  const r = sh('sync_copy "$1" "$2"', src, other.slot);
  assert.equal(r.code, 1);
  assert.match(r.err, /symbolic link in the slot/);
  assert.equal(existsSync(join(other.host, rel.split('/').slice(1).join('/'))), false);
});
