import { api } from '../api.js';
import { action, field, h, replace, select, short, toast, when } from '../dom.js';
import { customerNames } from './customers-cache.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function windowText(w) {
  if (!w) return 'any time';
  return `${w.windows.map((x) => `${x.day} ${x.start} for ${x.durationMinutes} min`).join(', ')} (${w.timeZone})`;
}

/** Inputs for one weekly maintenance window; value() is null when left off. */
function windowInputs(optional) {
  const on = h('input', { type: 'checkbox', checked: !optional });
  const zone = h('input', { type: 'text', name: 'timeZone', value: localZone(), size: 18 });
  const day = select('day', DAYS.map((d) => [d, d]), 'tue');
  const start = h('input', { type: 'time', name: 'start', value: '02:00' });
  const minutes = h('input', { type: 'number', name: 'durationMinutes', value: '120', min: 15, max: 1440 });
  const el = h('div', { class: 'row' }, optional ? h('label', { class: 'check' }, on, ' maintenance window') : null, zone, day, start, minutes, h('span', { class: 'hint' }, 'minutes'));
  return { el, value: () => (on.checked ? { timeZone: zone.value.trim(), windows: [{ day: day.value, start: start.value, durationMinutes: Number(minutes.value) }] } : null) };
}

function createForm(onDone) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 128, 'data-testid': 'customer-name' });
  const region = h('input', { type: 'text', name: 'region', required: true, placeholder: 'eu-west-1', 'data-testid': 'customer-region' });
  const canary = h('input', { type: 'checkbox', name: 'canary' });
  const win = windowInputs(true);
  const form = h('form', { class: 'card form' }, h('h2', null, 'New customer'), h('div', { class: 'row' }, field('name', name), field('region', region)), h('label', { class: 'check' }, canary, ' canary (upgraded first in its region)'), win.el, h('button', { type: 'submit' }, 'Create'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim(), region: region.value.trim(), canary: canary.checked };
    const w = win.value();
    if (w) body.maintenanceWindow = w;
    try {
      await api('POST', '/v1/customers', body);
      toast(`Customer ${body.name} created`);
      form.reset();
      await onDone();
    } catch (err) {
      toast(`Refused: ${err.message}`, 'error');
    }
  });
  return form;
}

function tokenBox(customer, token) {
  const area = h('textarea', { readonly: true, rows: 3, class: 'mono token', 'data-testid': 'register-token' }, token.registerToken);
  const copy = action('Copy', async () => {
    area.select();
    try {
      await navigator.clipboard.writeText(token.registerToken);
    } catch {
      document.execCommand('copy'); // plain-http consoles have no async clipboard
    }
    toast('Register token copied');
  });
  const limit = token.maxUses ? `, for ${token.maxUses} appliance(s)` : '';
  return h('div', { class: 'card' }, h('div', { class: 'card-title' }, `Register token for ${customer.name} (valid until ${when(token.expiresAt)}${limit})`), area, copy, h('p', { class: 'hint' }, 'On the appliance: twinroot-agent register --backend <url> --token <this token>'));
}

/** A customer's register tokens: issue one (optionally for N appliances), see uses, revoke. */
function tokenPanel(customer, issued, onChange) {
  const uses = h('input', { type: 'number', min: 1, max: 1000000, placeholder: 'no limit', size: 8, 'data-testid': 'token-max-uses' });
  const table = h('div', { 'data-testid': 'token-table' });
  const load = async () => {
    const list = await api('GET', `/v1/customers/${customer.customerId}/register-tokens`);
    replace(
      table,
      list.items.length === 0
        ? h('p', { class: 'empty' }, 'No register tokens issued yet.')
        : h(
            'table',
            { class: 'grid' },
            h('thead', null, h('tr', null, ['token', 'issued', 'valid until', 'used', ''].map((c) => h('th', null, c)))),
            h(
              'tbody',
              null,
              list.items.map((t) =>
                h(
                  'tr',
                  { 'data-token': t.tokenId },
                  h('td', { class: 'mono', title: t.tokenId }, short(t.tokenId)),
                  h('td', null, when(t.createdAt)),
                  h('td', null, when(t.expiresAt)),
                  h('td', null, t.maxUses ? `${t.uses} of ${t.maxUses}` : String(t.uses)),
                  h('td', null, t.revokedAt ? `revoked ${when(t.revokedAt)}` : action('Revoke', async () => {
                    await api('DELETE', `/v1/customers/${customer.customerId}/register-tokens/${t.tokenId}`);
                    toast('Register token revoked: it registers nothing more');
                    await load();
                  }, { class: 'danger', 'data-testid': `revoke-${t.tokenId}` })),
                ),
              ),
            ),
          ),
    );
  };
  const issue = action('Issue another', async () => {
    const body = uses.value ? { maxUses: Number(uses.value) } : {};
    onChange(await api('POST', `/v1/customers/${customer.customerId}/register-tokens`, body));
  });
  void load().catch((err) => toast(err.message, 'error'));
  return h('div', null, issued ? tokenBox(customer, issued) : null, h('div', { class: 'card' }, h('div', { class: 'card-title' }, `Register tokens of ${customer.name}`), h('div', { class: 'row' }, field('max appliances', uses), issue), table));
}

/** Customers: create, canary flag, maintenance windows, register tokens. */
export function customersView() {
  const list = h('div', { 'data-testid': 'customer-table' });
  const tokens = h('div');
  let editing = null;
  const view = {
    mount: () => h('div', { class: 'page' }, h('h1', null, 'Customers'), tokens, list, createForm(() => view.refresh())),
    async refresh(force = false) {
      if (list.contains(document.activeElement) && document.activeElement.tagName !== 'BUTTON' && !force) return;
      const [customers, summary] = await Promise.all([customerNames(true), api('GET', '/v1/fleet/summary')]);
      const perRegion = new Map(summary.byRegion.map((r) => [r.region, r.count]));
      const items = [...customers.values()].sort((a, b) => a.region.localeCompare(b.region) || a.name.localeCompare(b.name));
      const patch = async (c, body) => {
        await api('PATCH', `/v1/customers/${c.customerId}`, body);
        editing = null;
        await view.refresh(true);
      };
      replace(
        list,
        items.length === 0
          ? h('p', { class: 'empty' }, 'No customers yet.')
          : h(
              'table',
              { class: 'grid' },
              h('thead', null, h('tr', null, ['name', 'customer', 'region', 'canary', 'maintenance window', ''].map((c) => h('th', null, c)))),
              h(
                'tbody',
                null,
                items.map((c) => {
                  const canary = h('input', { type: 'checkbox', checked: c.canary, 'data-testid': `canary-${c.name}`, onchange: (e) => patch(c, { canary: e.target.checked }).catch((err) => toast(err.message, 'error')) });
                  let windowCell;
                  if (editing === c.customerId) {
                    const w = windowInputs(false);
                    windowCell = h('td', null, w.el, action('Save', () => patch(c, { maintenanceWindow: w.value() })), h('button', { type: 'button', onclick: () => ((editing = null), view.refresh(true)) }, 'Cancel'));
                  } else {
                    windowCell = h(
                      'td',
                      null,
                      windowText(c.maintenanceWindow),
                      ' ',
                      h('button', { type: 'button', class: 'link', onclick: () => ((editing = c.customerId), view.refresh(true)) }, 'set'),
                      c.maintenanceWindow ? action('clear', () => patch(c, { maintenanceWindow: null }), { class: 'link' }) : null,
                    );
                  }
                  return h(
                    'tr',
                    { 'data-customer': c.customerId },
                    h('td', null, c.name),
                    h('td', { class: 'mono', title: c.customerId }, short(c.customerId)),
                    h('td', null, `${c.region} (${perRegion.get(c.region) ?? 0} appliances)`),
                    h('td', null, canary),
                    windowCell,
                    h('td', null, action('Register token', async () => {
                      const show = (t) => replace(tokens, tokenPanel(c, t, show));
                      show(await api('POST', `/v1/customers/${c.customerId}/register-tokens`, {}));
                    }, { 'data-testid': `token-${c.name}` })),
                  );
                }),
              ),
            ),
      );
    },
  };
  return view;
}
