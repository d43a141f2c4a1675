// Prints the backend's configuration table (Markdown) from the one table of keys.
// `npx tsx --conditions=twinroot-source scripts/config-table.ts` — README.md must contain its output.
import { CONFIG_KEYS, envName } from '@twinroot/backend';

export function configTable(): string {
  const rows = Object.entries(CONFIG_KEYS).map(([k, s]) => `| \`${k}\` | \`${envName(k)}\` | ${s.default === '' ? '(empty)' : `\`${s.default}\``} | ${s.help} |`);
  return ['| file key | environment variable | default | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) console.log(configTable());
