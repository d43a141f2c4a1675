import type { Readable, Writable } from 'node:stream';

/** Pipes a stream into a child's stdin; a failing stream kills the child (so the install fails). */
export function feed(stream: Readable, child: { stdin: Writable | null; kill(): boolean }): void {
  child.stdin?.on('error', () => undefined); // EPIPE when the child died first: its exit code says why
  stream.once('error', () => child.kill());
  stream.pipe(child.stdin!);
}
