import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

/** JSON logs to the log file (for diagnostic bundles) and to stdout (for the journal). */
export function createLogger(file: string, level: string): Logger {
  if (level === 'silent') return pino({ level: 'silent' });
  mkdirSync(dirname(file), { recursive: true });
  // The log names hosts, URLs and task bodies: readable by root and the adm group, not by everyone.
  if (existsSync(file)) chmodSync(file, 0o640);
  return pino(
    { level, base: { component: 'twinroot-agent' } },
    pino.multistream([{ level: level as pino.Level, stream: pino.destination({ dest: file, sync: true, mkdir: true, mode: 0o640 }) }, { level: level as pino.Level, stream: process.stdout }]),
  );
}
