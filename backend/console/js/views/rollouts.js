import { api } from '../api.js';
import { badge, field, h, replace, select, short, toast, when } from '../dom.js';
import { customerNames } from './customers-cache.js';
import { countsBar } from './rollout-bars.js';

const num = (name, value, attrs) => h('input', { type: 'number', name, value: String(value), ...attrs });

function createForm(releases, customers) {
  const release = select('releaseId', releases.map((r) => [r.releaseId, `${r.version} (${r.compatible})`]), releases[0]?.releaseId);
  release.setAttribute('data-testid', 'rollout-release');
  const startAt = h('input', { type: 'datetime-local', name: 'startAt' });
  const success = num('successThreshold', 95, { min: 1, max: 100, step: 'any' });
  const error = num('errorThreshold', 5, { min: 0, max: 100, step: 'any' });
  const timeout = num('stageTimeoutMinutes', 120, { min: 1, step: 1, 'data-testid': 'stage-timeout' });
  const window = num('preDownloadWindowHours', 12, { min: 0, step: 'any', 'data-testid': 'predownload-hours' });
  const mode = select('mode', [['install-reboot', 'install and reboot (trial boot, commit)'], ['install', 'install only (reboot later)'], ['download', 'download only']], 'install-reboot');
  const regions = h('input', { type: 'text', name: 'regionsOrder', placeholder: 'e.g. eu-west-1, us-east-1 (empty: smallest region first)' });
  const flagged = customers.filter((c) => c.canary).map((c) => c.customerId);
  const boxes = customers.map((c) => h('input', { type: 'checkbox', value: c.customerId, checked: c.canary }));
  const button = h('button', { type: 'submit', 'data-testid': 'create-rollout' }, 'Plan and start');
  const form = h(
    'form',
    { class: 'card form', 'data-testid': 'rollout-form' },
    h('h2', null, 'New rollout'),
    field('release', release),
    field('start at', startAt, 'empty: now; each later stage is planned one stage timeout after the one before'),
    h('div', { class: 'row' }, field('success threshold %', success, 'a stage passes at this share verified'), field('error threshold %', error, 'more failed or rolled back pauses the rollout')),
    h('div', { class: 'row' }, field('stage timeout (minutes)', timeout), field('pre-download window (hours)', window, 'before each stage; 0: none')),
    field('mode', mode),
    field('regions first', regions),
    h('fieldset', { class: 'canaries' }, h('legend', null, 'canary customers (go first in every region)'), customers.length === 0 ? h('p', { class: 'hint' }, 'no customers yet') : customers.map((c, i) => h('label', { class: 'check' }, boxes[i], ` ${c.name} (${c.region})`))),
    button,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {
      releaseId: release.value,
      successThreshold: Number(success.value) / 100,
      errorThreshold: Number(error.value) / 100,
      stageTimeoutMinutes: Number(timeout.value),
      preDownloadWindowHours: Number(window.value),
      mode: mode.value,
    };
    if (startAt.value) body.startAt = new Date(startAt.value).toISOString();
    const order = regions.value.split(/[\s,]+/).filter(Boolean);
    if (order.length) body.regionsOrder = order;
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    // Only when the choice differs from the customers' own canary flags (which the planner uses by default).
    if (chosen.slice().sort().join() !== flagged.slice().sort().join()) body.canaryCustomers = chosen;
    button.disabled = true;
    try {
      const r = await api('POST', '/v1/rollouts', body);
      toast('Rollout planned and started');
      location.hash = `#/rollouts/${r.rolloutId}`;
    } catch (err) {
      toast(`Refused: ${err.message}`, 'error');
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** Rollouts: the list with progress, and the form that starts one. */
export function rolloutsView() {
  const list = h('div', { 'data-testid': 'rollout-table' });
  const formBox = h('div');
  const view = {
    mount: () => h('div', { class: 'page' }, h('h1', null, 'Rollouts'), list, formBox),
    async refresh() {
      const [rollouts, releases, names] = await Promise.all([api('GET', '/v1/rollouts'), api('GET', '/v1/releases'), customerNames()]);
      replace(
        list,
        rollouts.items.length === 0
          ? h('p', { class: 'empty' }, 'No rollouts yet.')
          : h(
              'table',
              { class: 'grid' },
              h('thead', null, h('tr', null, ['rollout', 'version', 'status', 'stage', 'progress', 'created'].map((c) => h('th', null, c)))),
              h(
                'tbody',
                null,
                rollouts.items.map((r) =>
                  h(
                    'tr',
                    { class: 'link-row', 'data-rollout': r.rolloutId, onclick: () => (location.hash = `#/rollouts/${r.rolloutId}`) },
                    h('td', { class: 'mono' }, h('a', { href: `#/rollouts/${r.rolloutId}` }, short(r.rolloutId))),
                    h('td', { class: 'mono' }, r.version),
                    h('td', null, badge(r.status), r.pausedReason ? h('div', { class: 'hint' }, r.pausedReason) : null),
                    h('td', null, r.currentStage !== undefined ? `${r.currentStage + 1} of ${r.stages}` : `${r.stages} stages`),
                    h('td', { class: 'wide-cell' }, countsBar(r.totals)),
                    h('td', null, when(r.createdAt)),
                  ),
                ),
              ),
            ),
      );
      // The form is built once (and again only when the releases or customers change), so typing is never lost.
      const key = releases.items.map((r) => r.releaseId).join() + '|' + [...names.values()].map((c) => c.customerId + c.canary).join();
      if (formBox.dataset.key !== key && !formBox.contains(document.activeElement)) {
        formBox.dataset.key = key;
        replace(formBox, releases.items.length === 0 ? h('p', { class: 'card' }, 'Register a release first (Releases).') : createForm(releases.items, [...names.values()]));
      }
    },
  };
  return view;
}
