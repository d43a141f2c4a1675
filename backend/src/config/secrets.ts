import { join, relative, resolve, isAbsolute } from 'node:path';
import type { Config } from './keys.js';

/** Files and directories of the data directory (or configured elsewhere) that hold secrets or the store. */
export function secretPaths(config: Config, dataDir: string): string[] {
  return [
    join(dataDir, 'operator-key'),
    join(dataDir, 'register-token-key.pem'),
    join(dataDir, 'log-bundles'),
    join(dataDir, 'dynamodb'),
    join(dataDir, 'incoming'),
    join(dataDir, 'ca'),
    ...(config.registerTokenKeyFile ? [resolve(config.registerTokenKeyFile)] : []),
    ...(config.caKeyFile ? [resolve(config.caKeyFile)] : []),
  ];
}

/** Pure: `inner` is `outer` or lies below it. */
export function within(inner: string, outer: string): boolean {
  const r = relative(outer, inner);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * Pure: why an artifact directory (served at /artifacts) would expose secrets, or null. It may
 * not be the data directory or above it, nor contain or lie inside a secret path.
 */
export function artifactDirProblem(artifactDir: string, dataDir: string, secrets: string[]): string | null {
  if (within(dataDir, artifactDir)) return `${artifactDir} contains the data directory ${dataDir} (its keys and store would be published); use a directory of its own, e.g. ${join(dataDir, 'artifacts')}`;
  for (const s of secrets) {
    if (within(s, artifactDir)) return `${artifactDir} contains the secret ${s}`;
    if (within(artifactDir, s)) return `${artifactDir} lies inside ${s}`;
  }
  return null;
}
