import { api } from '../api.js';
import { ago, badge, bar, h, replace, select, short } from '../dom.js';
import { customerNames } from './customers-cache.js';

const STATUSES = ['connected', 'upgrading', 'rolled_back', 'disconnected'];
const STATUS_CLASS = { connected: 'ok', upgrading: 'busy', rolled_back: 'warn', disconnected: 'off' };

/** The fleet: counts by status and version, filters, the appliances. */
export function fleetView() {
  const filters = { region: '', customerId: '', status: '', version: '' };
  const counts = h('section', { class: 'cards', 'data-testid': 'fleet-counts' });
  const filterBar = h('div', { class: 'filters' });
  const table = h('div', { 'data-testid': 'appliance-table' });
  let known = { regions: [], customers: [], versions: [] };

  function renderFilters() {
    const pick = (key, options, label) => {
      const s = select(key, [['', `all ${label}`], ...options], filters[key]);
      s.setAttribute('data-testid', `filter-${key}`);
      s.addEventListener('change', () => {
        filters[key] = s.value;
        void view.refresh();
      });
      return s;
    };
    replace(
      filterBar,
      pick('region', known.regions.map((r) => [r, r]), 'regions'),
      pick('customerId', known.customers.map((c) => [c.customerId, `${c.name} (${c.region})`]), 'customers'),
      pick('status', STATUSES.map((s) => [s, s.replace('_', ' ')]), 'statuses'),
      pick('version', known.versions.map((v) => [v, v]), 'versions'),
    );
  }

  const view = {
    mount: () => h('div', { class: 'page' }, h('h1', null, 'Fleet'), counts, filterBar, table),
    async refresh() {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
      const scope = new URLSearchParams();
      if (filters.region) scope.set('region', filters.region);
      if (filters.customerId) scope.set('customerId', filters.customerId);
      const [summary, everything, names, list] = await Promise.all([
        api('GET', `/v1/fleet/summary?${scope}`),
        api('GET', '/v1/fleet/summary'),
        customerNames(),
        api('GET', `/v1/appliances?limit=500&${q}`),
      ]);
      const total = summary.appliances;
      replace(
        counts,
        h('div', { class: 'card' }, h('div', { class: 'big', 'data-testid': 'count-total' }, total), h('div', null, 'appliances')),
        h(
          'div',
          { class: 'card wide' },
          h('div', { class: 'card-title' }, 'by status'),
          bar(STATUSES.map((s) => ({ n: summary.byStatus[s], cls: STATUS_CLASS[s], label: s })), total),
          h('div', { class: 'legend' }, STATUSES.map((s) => h('span', { class: `key ${STATUS_CLASS[s]}`, 'data-testid': `count-${s}` }, `${s.replace('_', ' ')} ${summary.byStatus[s]}`))),
        ),
        h(
          'div',
          { class: 'card wide' },
          h('div', { class: 'card-title' }, 'by version'),
          summary.byVersion.map((v, i) => bar([{ n: v.count, cls: i === 0 ? 'ok' : 'old', label: v.version }], total, `${v.version}: ${v.count}`)),
        ),
      );
      known = { regions: everything.byRegion.map((r) => r.region), customers: [...names.values()], versions: everything.byVersion.map((v) => v.version) };
      if (!filterBar.contains(document.activeElement)) renderFilters();
      replace(
        table,
        h(
          'table',
          { class: 'grid' },
          h('thead', null, h('tr', null, ['hostname', 'appliance', 'customer', 'region', 'version', 'status', 'slots', 'last heartbeat', 'current task'].map((c) => h('th', null, c)))),
          h(
            'tbody',
            null,
            list.items.slice().sort((x, y) => x.hostname.localeCompare(y.hostname) || x.applianceId.localeCompare(y.applianceId)).map((a) =>
              h(
                'tr',
                { class: 'link-row', 'data-appliance': a.applianceId, onclick: () => (location.hash = `#/appliances/${a.applianceId}`) },
                h('td', null, h('a', { href: `#/appliances/${a.applianceId}` }, a.hostname)),
                h('td', { class: 'mono', title: a.applianceId }, short(a.applianceId)),
                h('td', null, names.get(a.customerId)?.name ?? short(a.customerId)),
                h('td', null, a.region),
                h('td', { class: 'mono' }, a.version),
                h('td', null, badge(a.status)),
                h('td', null, `booted ${a.bootedSlot} · committed ${a.committedSlot}${a.trial ? ' · trial' : ''}`),
                h('td', { title: a.lastSeenAt }, ago(a.lastSeenAt)),
                h('td', null, a.currentTask ? `${a.currentTask.taskType} ${a.currentTask.status}` : ''),
              ),
            ),
          ),
        ),
        list.items.length === 0 ? h('p', { class: 'empty' }, 'No appliances match.') : null,
        list.nextToken ? h('p', { class: 'hint' }, 'Showing the first 500; narrow the filters to see the rest.') : null,
      );
    },
  };
  return view;
}
