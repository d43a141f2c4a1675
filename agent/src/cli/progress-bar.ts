import type { TaskProgress } from '@twinroot/protocol';

const mib = (n: number) => (n / 1048576).toFixed(1);

/** Renders download progress on stderr: a redrawn bar on a terminal, a line every 5 s otherwise. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr) {
  let lastLine = 0;
  return {
    update(p: TaskProgress): void {
      if (p.bytes === undefined || !p.totalBytes) {
        if (p.phase) stream.write(stream.isTTY ? `\r${p.phase}…\x1b[K` : `${p.phase}\n`);
        return;
      }
      const frac = Math.min(1, p.bytes / p.totalBytes);
      const width = 30;
      const filled = Math.round(frac * width);
      const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(frac * 100).toFixed(1)}% ${mib(p.bytes)}/${mib(p.totalBytes)} MiB ${mib(p.rateBytesPerSecond ?? 0)} MiB/s ETA ${p.etaSeconds ?? '?'} s`;
      if (stream.isTTY) stream.write(`\r${line}\x1b[K`);
      else if (Date.now() - lastLine >= 5000 || frac === 1) {
        lastLine = Date.now();
        stream.write(`${line}\n`);
      }
    },
    done(): void {
      if (stream.isTTY) stream.write('\n');
    },
  };
}
