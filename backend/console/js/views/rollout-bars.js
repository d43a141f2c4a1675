import { bar } from '../dom.js';

/** A stage's (or a rollout's) counts as one stacked bar with a "done/all" label. */
export function countsBar(c) {
  const done = c.succeeded + c.failed + c.rolledBack + c.cancelled;
  return bar(
    [
      { n: c.succeeded, cls: 'ok', label: 'succeeded' },
      { n: c.failed, cls: 'bad', label: 'failed' },
      { n: c.rolledBack, cls: 'warn', label: 'rolled back' },
      { n: c.cancelled, cls: 'off', label: 'cancelled' },
      { n: c.inProgress, cls: 'busy', label: 'installing' },
      { n: c.downloaded, cls: 'pre', label: 'downloaded' },
      { n: c.downloading, cls: 'pre2', label: 'downloading' },
    ],
    c.appliances,
    `${c.succeeded}/${c.appliances}${c.failed + c.rolledBack ? ` · ${c.failed + c.rolledBack} failed` : ''}${c.inProgress ? ` · ${c.inProgress} installing` : ''}${done < c.appliances && c.downloaded ? ` · ${c.downloaded} pre-downloaded` : ''}`,
  );
}
