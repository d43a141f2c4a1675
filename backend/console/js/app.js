import { keyAccepted, session } from './api.js';
import { h, replace, toast } from './dom.js';
import { fleetView } from './views/fleet.js';
import { applianceView } from './views/appliance.js';
import { releasesView } from './views/releases.js';
import { rolloutsView } from './views/rollouts.js';
import { rolloutView } from './views/rollout.js';
import { customersView } from './views/customers.js';

/** How often the shown page refreshes its data (polling keeps it simple behind any proxy). */
const REFRESH_MS = 2000;

const ROUTES = [
  [/^#\/fleet$/, 'fleet', () => fleetView()],
  [/^#\/appliances\/([0-9a-zA-Z-]+)$/, 'fleet', (id) => applianceView(id)],
  [/^#\/releases$/, 'releases', () => releasesView()],
  [/^#\/rollouts$/, 'rollouts', () => rolloutsView()],
  [/^#\/rollouts\/([0-9a-zA-Z-]+)$/, 'rollouts', (id) => rolloutView(id)],
  [/^#\/customers$/, 'customers', () => customersView()],
];

const main = document.getElementById('main');
const live = document.getElementById('live');
let current = null;
let refreshing = null;

function loginPage() {
  const input = h('input', { type: 'password', name: 'operatorKey', autocomplete: 'current-password', required: true, placeholder: 'trk_…', 'data-testid': 'operator-key' });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h(
    'form',
    { class: 'login card' },
    h('h1', null, 'Sign in'),
    h('p', null, 'Enter the operator key. The backend prints it when it starts, and keeps it in its data directory (operator-key).'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    try {
      if (!(await keyAccepted(key))) {
        error.textContent = 'That key was not accepted.';
        return;
      }
      session.signIn(key);
      route();
    } catch (err) {
      error.textContent = `Cannot reach the backend: ${err.message}`;
    }
  });
  return form;
}

function signedIn(yes) {
  document.getElementById('nav').hidden = !yes;
  document.getElementById('sign-out').hidden = !yes;
  live.hidden = !yes;
}

async function refresh() {
  if (!current || refreshing) return;
  const view = current;
  refreshing = view
    .refresh()
    .then(() => {
      if (view !== current) return;
      live.textContent = `live · ${new Date().toLocaleTimeString()}`;
      live.classList.remove('stale');
    })
    .catch((err) => {
      if (view !== current) return;
      live.textContent = `not updating: ${err.message}`;
      live.classList.add('stale');
    })
    .finally(() => (refreshing = null));
  await refreshing;
}

function route() {
  current?.unmount?.();
  current = null;
  if (!session.key) {
    signedIn(false);
    replace(main, loginPage());
    main.querySelector('input')?.focus();
    return;
  }
  signedIn(true);
  const hash = location.hash || '#/fleet';
  for (const [re, nav, make] of ROUTES) {
    const m = re.exec(hash);
    if (!m) continue;
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
    current = make(...m.slice(1).map(decodeURIComponent));
    replace(main, current.mount());
    void refresh();
    return;
  }
  location.hash = '#/fleet';
}

document.getElementById('sign-out').addEventListener('click', () => {
  session.signOut();
  route();
});
window.addEventListener('twinroot:signed-out', () => {
  toast('The operator key was refused; sign in again.', 'error');
  route();
});
window.addEventListener('hashchange', route);
setInterval(refresh, REFRESH_MS);
route();
