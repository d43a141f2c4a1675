import { fromProtocol1, type TaskResult } from '@twinroot/protocol';

/**
 * A task result as protocol 2 spells it. Agents of protocol 1 (no `protocolVersion`) sent the
 * upgrade's states and phases in kebab-case; this release still takes them and stores today's
 * spelling. Remove with protocol 1's support (the release after 0.10).
 */
export function resultInProtocol2(result: TaskResult): TaskResult {
  if ((result.protocolVersion ?? 1) >= 2) return result;
  const phase = result.progress?.phase;
  const state = result.detail?.state;
  return {
    ...result,
    ...(result.progress && phase !== undefined ? { progress: { ...result.progress, phase: fromProtocol1(phase) } } : {}),
    ...(result.detail && typeof state === 'string' ? { detail: { ...result.detail, state: fromProtocol1(state) } } : {}),
  };
}
