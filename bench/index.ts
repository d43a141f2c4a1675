// Runs every benchmark in bench/ (or those named on the command line); each prints its own
// figures and a ratio against a baseline measured in the same run.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
if (files.length === 0) {
  console.error(`bench: nothing matches ${wanted.join(' ')}`);
  process.exit(1);
}
for (const f of files) {
  const mod = (await import(join(here, f))) as { run: () => unknown };
  console.log(`== ${f}`);
  await mod.run();
}
