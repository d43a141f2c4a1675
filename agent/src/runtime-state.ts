import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './state/atomic-file.js';

/** What the running daemon tells `twinroot status`: connection and current tasks. */
export interface RuntimeState {
  pid: number;
  startedAt: string;
  updatedAt: string;
  mqtt: string;
  currentTasks: { taskId: string; taskType: string; startedAt: string; progress?: unknown }[];
  outboxPending: number;
}

export const runtimePath = (stateDir: string) => join(stateDir, 'runtime.json');

export function writeRuntimeState(stateDir: string, s: RuntimeState): void {
  writeFileAtomic(runtimePath(stateDir), JSON.stringify(s, null, 2), 0o644);
}

export function readRuntimeState(stateDir: string): RuntimeState | null {
  const p = runtimePath(stateDir);
  if (!existsSync(p)) return null;
  try {
    const s = JSON.parse(readFileSync(p, 'utf8')) as RuntimeState;
    // A state file left by a daemon that is gone says nothing about now.
    try {
      process.kill(s.pid, 0);
    } catch {
      return { ...s, mqtt: 'not running', currentTasks: [] };
    }
    return s;
  } catch {
    return null;
  }
}
