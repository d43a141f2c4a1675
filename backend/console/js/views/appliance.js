import { api, download } from '../api.js';
import { action, ago, badge, bar, bytes, h, replace, select, short, toast, when } from '../dom.js';
import { customerNames } from './customers-cache.js';
import { describeError, errorLabels } from './error-labels.js';

function facts(a, customer) {
  const row = (k, v) => [h('dt', null, k), h('dd', null, v)];
  return h(
    'dl',
    { class: 'facts', 'data-testid': 'appliance-facts' },
    row('status', badge(a.status)),
    row('version', h('span', { class: 'mono', 'data-testid': 'appliance-version' }, a.version)),
    row('customer', customer ? `${customer.name} (${customer.region})` : a.customerId),
    row('slots', `booted ${a.bootedSlot}, committed ${a.committedSlot}${a.trial ? ', on trial' : ''}`),
    row('last heartbeat', h('span', { title: a.lastSeenAt }, `${ago(a.lastSeenAt)} (${when(a.lastSeenAt)})`)),
    row('address', `${a.ip} · ${a.cpu} · ${a.memoryMb} MiB`),
    row('registered', when(a.registeredAt)),
    a.certificate
      ? row(
          'MQTT certificate',
          h('span', { class: 'mono', title: a.certificate.certificateId, 'data-testid': 'appliance-certificate' }, `${short(a.certificate.certificateId)} · expires ${when(a.certificate.expiresAt)}${a.certificate.previousCertificateId ? ` · replacing ${short(a.certificate.previousCertificateId)}` : ''}`),
        )
      : null,
    a.upgrade ? row('upgrading to', `${a.upgrade.version} (${a.upgrade.mode})`) : null,
    a.lastUpgrade ? row('last upgrade', `${a.lastUpgrade.version} at ${when(a.lastUpgrade.at)}`) : null,
    a.rollback ? row('rolled back', `from ${a.rollback.fromVersion} to ${a.rollback.toVersion} at ${when(a.rollback.detectedAt)}`) : null,
    row('services', a.services.length ? a.services.map((s) => `${s.name}: ${s.status}`).join(', ') : 'none reported'),
  );
}

function describeTask(t) {
  if (t.taskType === 'upgrade') return `upgrade to ${t.body.version} (${t.body.mode ?? 'install-reboot'})`;
  if (t.taskType === 'rollback') return `rollback${t.body.reboot === false ? ' (no reboot)' : ''}`;
  return t.taskType;
}

/** A progress phase as words (the wire spells them snake_case: sync_config). */
const phaseLabel = (phase) => (phase ?? '').replaceAll('_', ' ');

function timeline(tasks, labels) {
  if (tasks.length === 0) return h('p', { class: 'empty' }, 'No tasks yet.');
  return h(
    'ol',
    { class: 'timeline', 'data-testid': 'timeline' },
    tasks.map((t) =>
      h(
        'li',
        { class: 'task', 'data-task': t.taskId },
        h('div', { class: 'task-head' }, h('strong', null, describeTask(t)), badge(t.status), h('span', { class: 'hint' }, `by ${t.createdBy} · ${when(t.createdAt)} · ${short(t.taskId)}`)),
        t.progress && !['succeeded', 'failed', 'timed_out', 'superseded', 'cancelled'].includes(t.status)
          ? bar([{ n: t.progress.percent ?? 0, cls: 'busy', label: phaseLabel(t.progress.phase) }], 100, `${phaseLabel(t.progress.phase)} ${t.progress.percent ?? ''}${t.progress.percent !== undefined ? '%' : ''}`)
          : null,
        t.error ? h('p', { class: 'error' }, describeError(labels, t.error)) : null,
        t.rolledBack ? h('p', { class: 'warn-text' }, `rolled back to ${t.rolledBack.toVersion} at ${when(t.rolledBack.at)}`) : null,
        h(
          'ul',
          { class: 'events' },
          t.events.map((e) => h('li', null, h('span', { class: 'mono' }, when(e.at)), ' ', h('span', { class: 'event' }, e.status), e.note ? h('span', { class: 'hint' }, ` — ${e.note}`) : null)),
        ),
        t.detail ? h('pre', { class: 'detail' }, JSON.stringify(t.detail)) : null,
      ),
    ),
  );
}

/** One appliance: facts, actions (upgrade, rollback, logs, heartbeat), task timeline, log bundles. */
export function applianceView(id) {
  const head = h('div');
  const actions = h('div', { class: 'actions' });
  const tasks = h('div');
  const logs = h('div');
  let releases = [];
  let confirming = false;
  let decommissioning = false;

  function renderActions() {
    const rel = select('releaseId', releases.map((r) => [r.releaseId, r.version]), releases[0]?.releaseId);
    rel.setAttribute('data-testid', 'upgrade-release');
    const rollback = confirming
      ? [
          action('Confirm rollback', async () => {
            confirming = false;
            await api('POST', `/v1/appliances/${id}/rollback`, { reboot: true });
            toast('Rollback sent');
            renderActions();
            await view.refresh();
          }, { class: 'danger', 'data-testid': 'confirm-rollback' }),
          h('button', { type: 'button', onclick: () => ((confirming = false), renderActions()) }, 'Cancel'),
        ]
      : h('button', { type: 'button', 'data-testid': 'rollback', onclick: () => ((confirming = true), renderActions()) }, 'Roll back…');
    replace(
      actions,
      h('span', { class: 'group' }, rel, action('Upgrade', async () => {
        const r = await api('POST', `/v1/appliances/${id}/upgrade`, { releaseId: rel.value });
        toast(`Upgrade sent (task ${short(r.taskId)})`);
        await view.refresh();
      }, { disabled: releases.length === 0, 'data-testid': 'upgrade' })),
      h('span', { class: 'group' }, rollback),
      action('Collect logs', async () => {
        await api('POST', `/v1/appliances/${id}/collect-logs`);
        toast('Asked the appliance for its logs');
        await view.refresh();
      }, { 'data-testid': 'collect-logs' }),
      action('Request heartbeat', async () => {
        await api('POST', `/v1/appliances/${id}/tasks`, { taskType: 'heartbeat' });
        await view.refresh();
      }),
      h('span', { class: 'group' }, decommissionAction()),
    );
  }

  // Two steps, like rollback: the appliance's credentials stop working at once and cannot be restored.
  function decommissionAction() {
    if (!decommissioning) return h('button', { type: 'button', 'data-testid': 'decommission', onclick: () => ((decommissioning = true), renderActions()) }, 'Decommission…');
    return [
      h('span', { class: 'hint' }, 'Its token stops working on HTTP and MQTT; it must register again. '),
      action('Confirm decommission', async () => {
        await api('DELETE', `/v1/appliances/${id}`);
        toast('Appliance decommissioned');
        location.hash = '#/fleet';
      }, { class: 'danger', 'data-testid': 'confirm-decommission' }),
      h('button', { type: 'button', onclick: () => ((decommissioning = false), renderActions()) }, 'Cancel'),
    ];
  }

  const view = {
    mount: () => h('div', { class: 'page' }, h('p', null, h('a', { href: '#/fleet' }, '← Fleet')), head, actions, h('h2', null, 'Task timeline'), tasks, h('h2', null, 'Diagnostic bundles'), logs),
    async refresh() {
      const [a, list, names, rels, bundles] = await Promise.all([
        api('GET', `/v1/appliances/${id}`),
        api('GET', `/v1/appliances/${id}/tasks?limit=30`),
        customerNames(),
        api('GET', '/v1/releases'),
        api('GET', `/v1/appliances/${id}/logs`),
      ]);
      replace(head, h('h1', null, a.hostname, ' ', h('span', { class: 'mono hint' }, a.applianceId)), facts(a, names.get(a.customerId)));
      const changed = rels.items.map((r) => r.releaseId).join() !== releases.map((r) => r.releaseId).join();
      releases = rels.items;
      if (changed || actions.childElementCount === 0) renderActions();
      replace(tasks, timeline(list.items, await errorLabels()));
      replace(
        logs,
        bundles.items.length === 0
          ? h('p', { class: 'empty' }, 'None yet. "Collect logs" asks the appliance to upload one.')
          : h('ul', { class: 'plain' }, bundles.items.map((b) => h('li', null, when(b.uploadedAt), ' · ', bytes(b.bytes), ' ', action('Download', () => download(`/v1/appliances/${id}/logs/${b.bundleId}`, `twinroot-logs-${short(id)}-${short(b.bundleId)}.tar.gz`), { class: 'link' })))),
      );
    },
  };
  return view;
}
