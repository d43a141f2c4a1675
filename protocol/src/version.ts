import { SEMVER_PATTERN } from './common.js';

const semverRe = new RegExp(SEMVER_PATTERN);

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
  prerelease: (string | number)[];
}

export function parseVersion(v: string): ParsedVersion {
  if (v.length > 64 || !semverRe.test(v)) throw new Error(`not a semantic version: ${JSON.stringify(v.slice(0, 80))}`);
  const noBuild = v.split('+', 1)[0] as string;
  const dash = noBuild.indexOf('-');
  const core = dash === -1 ? noBuild : noBuild.slice(0, dash);
  const pre = dash === -1 ? '' : noBuild.slice(dash + 1);
  const [major, minor, patch] = core.split('.').map((n) => Number(n)) as [number, number, number];
  if (![major, minor, patch].every(Number.isSafeInteger)) throw new Error(`version number too large: ${v}`);
  const prerelease = pre === '' ? [] : pre.split('.').map((id) => (/^[0-9]+$/.test(id) ? Number(id) : id));
  return { major, minor, patch, prerelease };
}

function compareIdentifiers(a: string | number, b: string | number): number {
  // SemVer §11: numeric identifiers sort before alphanumeric ones.
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b);
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SemVer 2.0.0 precedence: -1, 0 or 1. Build metadata is ignored. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (const k of ['major', 'minor', 'patch'] as const) {
    if (x[k] !== y[k]) return x[k] < y[k] ? -1 : 1;
  }
  // A version without prerelease has higher precedence than one with.
  if (x.prerelease.length === 0 || y.prerelease.length === 0) {
    return (Math.sign(y.prerelease.length - x.prerelease.length) as -1 | 0 | 1);
  }
  const n = Math.max(x.prerelease.length, y.prerelease.length);
  for (let i = 0; i < n; i++) {
    const p = x.prerelease[i];
    const q = y.prerelease[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const c = compareIdentifiers(p, q);
    if (c !== 0) return c as -1 | 1;
  }
  return 0;
}

export function isDowngrade(from: string, to: string): boolean {
  return compareVersions(to, from) < 0;
}
