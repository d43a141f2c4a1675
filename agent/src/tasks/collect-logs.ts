import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TaskMessageOf } from '@twinroot/protocol';
import { uploadBundle } from '../backend/bundle-upload.js';
import { TaskFailure, type TaskContext } from '../dispatch/dispatcher.js';
import type { SlotStatusSource } from '../slots/status.js';
import { buildDiagnosticBundle } from './diagnostics.js';

export function collectLogsHandler(deps: { agentLog: string; slots: SlotStatusSource }) {
  return async (task: TaskMessageOf<'collectLogs'>, ctx: TaskContext) => {
    const dir = mkdtempSync(join(tmpdir(), 'twinroot-logs-'));
    const out = join(dir, 'diagnostics.tar.gz');
    try {
      ctx.progress({ phase: 'collect' });
      const files = await buildDiagnosticBundle({ out, agentLog: deps.agentLog, slots: deps.slots });
      ctx.progress({ phase: 'upload', totalBytes: statSync(out).size });
      let via: string;
      try {
        via = (await uploadBundle(task.body.uploadUrl, out)).via;
      } catch (err) {
        throw new TaskFailure('upload_failed', (err as Error).message);
      }
      return { detail: { bytes: statSync(out).size, files: files.length, via } };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}
