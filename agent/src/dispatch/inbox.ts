import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskMessage } from '@twinroot/protocol';
import { writeFileAtomic } from '../state/atomic-file.js';

/**
 * Tasks taken but not finished. A task is written here before it is marked seen, so a crash at
 * any point either leaves it here (it runs again after the restart) or never took it (the
 * broker or the backend's retry sweep delivers it again).
 */
export class Inbox {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'inbox');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  private file(taskId: string): string {
    return join(this.dir, `${taskId}.json`);
  }

  put(task: TaskMessage): void {
    writeFileAtomic(this.file(task.taskId), JSON.stringify({ receivedAt: new Date().toISOString(), task }));
  }

  done(taskId: string): void {
    try {
      unlinkSync(this.file(taskId));
    } catch {
      // already removed
    }
  }

  /** Unfinished tasks, oldest first. */
  list(): { receivedAt: string; task: TaskMessage }[] {
    const out: { receivedAt: string; task: TaskMessage }[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as { receivedAt: string; task: TaskMessage });
      } catch {
        unlinkSync(join(this.dir, f));
      }
    }
    return out.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  }
}
