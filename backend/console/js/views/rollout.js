import { api } from '../api.js';
import { action, badge, h, replace, short, toast, when } from '../dom.js';
import { countsBar } from './rollout-bars.js';

const KIND = { 'canary-first-half': 'canaries, first half', 'canary-second-half': 'canaries, second half', 'first-half': 'first half', 'second-half': 'second half' };

/** One rollout: status, why it paused, operator actions, stages with live bars and their pre-download windows. */
export function rolloutView(id) {
  const head = h('div');
  const stages = h('div', { 'data-testid': 'stages' });
  const members = h('div', { 'data-testid': 'stage-appliances' });
  // Which appliance is in which stage: one stage's appliances, a page at a time (not polled).
  const showStage = async (index, token, shown = []) => {
    const page = await api('GET', `/v1/rollouts/${id}/stages/${index}/appliances?limit=50${token ? `&nextToken=${encodeURIComponent(token)}` : ''}`);
    const items = [...shown, ...page.items];
    replace(
      members,
      h('h2', null, `Stage ${index + 1}: appliances `, h('span', { class: 'hint' }, `as of ${when(new Date().toISOString())}`)),
      h(
        'table',
        { class: 'grid' },
        h('thead', null, h('tr', null, ['appliance', 'customer', 'state', 'note', 'updated'].map((c) => h('th', null, c)))),
        h(
          'tbody',
          null,
          items.map((t) =>
            h('tr', { 'data-appliance': t.applianceId }, h('td', null, h('a', { href: `#/appliances/${t.applianceId}` }, short(t.applianceId))), h('td', { class: 'mono' }, short(t.customerId)), h('td', null, badge(t.state)), h('td', { class: 'hint' }, t.note ?? ''), h('td', null, when(t.updatedAt))),
          ),
        ),
      ),
      h('div', { class: 'actions' }, page.nextToken ? action('More', () => showStage(index, page.nextToken, items)) : null, action('Reload', () => showStage(index))),
    );
  };
  const act = (verb) => async () => {
    await api('POST', `/v1/rollouts/${id}/${verb}`);
    toast(`Rollout ${verb === 'abort' ? 'aborted' : verb === 'pause' ? 'paused' : 'resumed'}`);
    await view.refresh();
  };
  const view = {
    mount: () => h('div', { class: 'page' }, h('p', null, h('a', { href: '#/rollouts' }, '← Rollouts')), head, h('h2', null, 'Stages'), stages, members),
    async refresh() {
      const r = await api('GET', `/v1/rollouts/${id}`);
      const p = r.policy;
      const open = r.status === 'running' || r.status === 'paused' || r.status === 'preparing';
      replace(
        head,
        h('h1', null, `Rollout of ${r.version} `, h('span', { 'data-testid': 'rollout-status' }, badge(r.status)), ' ', h('span', { class: 'mono hint' }, short(r.rolloutId))),
        r.pausedReason ? h('p', { class: 'paused-reason', role: 'status', 'data-testid': 'paused-reason' }, `Paused: ${r.pausedReason}`) : null,
        r.status === 'preparing'
          ? h(
              'p',
              { class: 'hint', role: 'status', 'data-testid': 'preparation' },
              r.preparation?.total !== undefined
                ? `Preparing: ${r.preparation.written} of ${r.preparation.total} appliances planned${r.preparation.attempts > 1 ? ` (attempt ${r.preparation.attempts})` : ''} …`
                : 'Preparing: reading the fleet …',
            )
          : null,
        h(
          'div',
          { class: 'actions' },
          action('Pause', act('pause'), { disabled: r.status !== 'running', 'data-testid': 'pause' }),
          action('Resume', act('resume'), { disabled: r.status !== 'paused', 'data-testid': 'resume' }),
          action('Abort', act('abort'), { disabled: !open, class: 'danger', 'data-testid': 'abort' }),
        ),
        h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'all appliances'), countsBar(r.totals)),
        h(
          'p',
          { class: 'hint' },
          `start ${when(p.startAt)} · success ≥ ${Math.round(p.successThreshold * 1000) / 10}% · pause over ${Math.round(p.errorThreshold * 1000) / 10}% failed · stage timeout ${p.stageTimeoutMinutes} min · pre-download ${p.preDownloadWindowHours} h before each stage · ${p.mode}`,
          r.completedAt ? ` · completed ${when(r.completedAt)}` : '',
        ),
      );
      replace(
        stages,
        h(
          'table',
          { class: 'grid stages' },
          h('thead', null, h('tr', null, ['#', 'region', 'who', 'status', 'progress', 'pre-download window', 'planned start', 'started', 'passed', ''].map((c) => h('th', null, c)))),
          h(
            'tbody',
            null,
            r.stages.map((s) =>
              h(
                'tr',
                { 'data-stage': s.index, class: `stage-${s.status}` },
                h('td', null, s.index + 1),
                h('td', null, s.region),
                h('td', null, `${KIND[s.kind] ?? s.kind} · ${s.customers} customer${s.customers === 1 ? '' : 's'}`),
                h('td', { 'data-testid': `stage-status-${s.index}` }, badge(s.status)),
                h('td', { class: 'wide-cell' }, countsBar(s.counts)),
                h('td', null, s.preDownloadFrom === s.plannedStartAt ? 'none' : `${when(s.preDownloadFrom)} → ${when(s.plannedStartAt)}`),
                h('td', null, when(s.plannedStartAt)),
                h('td', null, when(s.startedAt)),
                h('td', null, when(s.passedAt)),
                h('td', null, action('Appliances', () => showStage(s.index), { class: 'link', 'data-testid': `stage-appliances-${s.index}` })),
              ),
            ),
          ),
        ),
      );
    },
  };
  return view;
}
