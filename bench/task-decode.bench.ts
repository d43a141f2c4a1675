// How much the agent's validation of a task message costs over merely parsing its JSON.
// Baseline, measured in the same run: JSON.parse of the same bytes.
import { decodeTaskMessage } from '@twinroot/protocol';

const message = Buffer.from(
  JSON.stringify({
    taskId: 'f0b5c4c2-3a1e-4b57-9f43-7c7a35e0b2d1',
    taskType: 'upgrade',
    createdAt: '2026-11-21T10:00:00.000Z',
    expiresAt: '2026-11-22T10:00:00.000Z',
    body: { releaseId: 'rel-2.1.0', version: '2.1.0', manifestUrl: 'https://artifacts.example.com/releases/2.1.0/manifest.json', mode: 'install-reboot' },
  }),
);

function rate(fn: () => unknown, seconds = 1): number {
  for (let i = 0; i < 10_000; i++) fn(); // warm up the JIT
  let n = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
  }
  return n / ((performance.now() - start) / 1000);
}

export function run(): { name: string; ratio: number } {
  const decoder = new TextDecoder();
  const baseline = rate(() => JSON.parse(decoder.decode(message)));
  const ours = rate(() => {
    const r = decodeTaskMessage(message);
    if (!r.ok) throw new Error(r.reason);
  });
  console.log(`task decode: ${Math.round(ours).toLocaleString('en')} msg/s validated vs ${Math.round(baseline).toLocaleString('en')} msg/s JSON.parse only`);
  console.log(`task decode: decode+validate runs at ${(ours / baseline).toFixed(2)}x the rate of JSON.parse alone`);
  return { name: 'task-decode', ratio: ours / baseline };
}
