#!/usr/bin/env node
// The files an upgrade goes through, from the console's Upgrade button to the GRUB switch: the
// relative-import closure (imports that run, not type-only ones) of the console view, the backend's upgrade route, the agent's
// upgrade task and boot check, plus twinroot-slot and the shell libraries it sources.
// `node scripts/upgrade-path.mjs [CHECKOUT]` prints each file with its line count and the total,
// so two checkouts can be compared the same way.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? '.');
const ENTRIES = (process.env.ENTRIES ?? 'backend/console/js/views/appliance.js backend/src/http/routes/appliances.ts agent/src/tasks/upgrade.ts agent/src/boot/boot-check.ts grub-scripts/twinroot-slot').split(' ');

function resolveImport(from, spec) {
  const base = resolve(dirname(from), spec);
  for (const c of [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, `${base}.js`, join(base, 'index.ts')]) if (existsSync(c) && !c.endsWith('/')) return c;
  return null;
}

function importsOf(file, text) {
  if (!/\.(ts|js|mjs)$/.test(file)) {
    // twinroot-slot sources lib/<part>.sh for each part it names.
    const parts = /for part in ([a-z -]+); do/.exec(text)?.[1]?.split(/\s+/) ?? [];
    return parts.map((p) => join(dirname(file), 'lib', `${p}.sh`)).filter((f) => existsSync(f));
  }
  // Only what runs: `import type` / `export type` are erased by the compiler.
  const specs = [...text.matchAll(/(?:import|export)\s+(?!type\s)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]);
  return specs.map((s) => resolveImport(file, s)).filter(Boolean);
}

const seen = new Map();
const queue = ENTRIES.map((e) => join(root, e)).filter((f) => existsSync(f));
while (queue.length > 0) {
  const f = queue.shift();
  if (seen.has(f)) continue;
  const text = readFileSync(f, 'utf8');
  seen.set(f, text.split('\n').length - (text.endsWith('\n') ? 1 : 0));
  queue.push(...importsOf(f, text));
}
const rows = [...seen].map(([f, n]) => [relative(root, f), n]).sort((a, b) => a[0].localeCompare(b[0]));
for (const [f, n] of rows) console.log(`${String(n).padStart(5)}  ${f}`);
console.log(`${rows.length} files, ${rows.reduce((s, [, n]) => s + n, 0)} lines`);
