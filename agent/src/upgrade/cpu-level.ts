import { CPU_LEVELS, type CpuLevel } from '@twinroot/protocol';

/**
 * The x86-64 micro-architecture levels (psABI) by the /proc/cpuinfo flags each needs. Rocky 9
 * is built for x86-64-v2: a hypervisor that masks SSE4.2 or POPCNT makes it unbootable.
 */
const LEVEL_FLAGS: Record<CpuLevel, string[]> = {
  'x86-64': ['lm', 'cmov', 'cx8', 'fpu', 'fxsr', 'mmx', 'sse', 'sse2'],
  'x86-64-v2': ['cx16', 'lahf_lm', 'popcnt', 'pni', 'sse4_1', 'sse4_2', 'ssse3'],
  'x86-64-v3': ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave'],
  'x86-64-v4': ['avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl'],
};

/** The flags of the first processor in a /proc/cpuinfo text. */
export function cpuFlags(cpuinfo: string): Set<string> {
  const line = cpuinfo.split('\n').find((l) => /^flags\s*:/.test(l));
  return new Set(line ? line.slice(line.indexOf(':') + 1).trim().split(/\s+/) : []);
}

/** Flags a level needs that are missing (a level includes every lower one). */
export function missingForLevel(flags: Set<string>, level: CpuLevel): string[] {
  const upTo = CPU_LEVELS.slice(0, CPU_LEVELS.indexOf(level) + 1);
  return upTo.flatMap((l) => LEVEL_FLAGS[l].filter((f) => !flags.has(f)));
}

/** The highest level the flags satisfy, or null for a non-x86-64 CPU. */
export function cpuLevelOf(flags: Set<string>): CpuLevel | null {
  let best: CpuLevel | null = null;
  for (const l of CPU_LEVELS) if (missingForLevel(flags, l).length === 0) best = l;
  return best;
}
