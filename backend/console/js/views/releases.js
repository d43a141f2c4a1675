import { api, upload } from '../api.js';
import { bytes, field, h, replace, toast, when } from '../dom.js';

function uploadForm(onDone) {
  const files = ['manifest', 'signature', 'payload'].map((name) => h('input', { type: 'file', name, required: true, 'data-testid': `file-${name}` }));
  const progress = h('progress', { max: 1, value: 0, hidden: true });
  const button = h('button', { type: 'submit' }, 'Upload and verify');
  const form = h(
    'form',
    { class: 'card form' },
    h('h2', null, 'Upload a package'),
    h('p', { class: 'hint' }, 'The three files image-build writes: the manifest (…manifest.json), its signature (.sig) and the payload (.tar.zst). The backend checks the signature with the release key and the payload against the signed size and sha256 before keeping it.'),
    field('manifest', files[0]),
    field('signature', files[1]),
    field('payload', files[2]),
    h('div', { class: 'row' }, button, progress),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData();
    // Manifest and signature first: the backend reads them before it streams the payload.
    for (const f of files) data.append(f.name, f.files[0]);
    button.disabled = true;
    progress.hidden = false;
    try {
      const r = await upload('/v1/releases', data, (p) => (progress.value = p));
      toast(`Release ${r.version} verified and registered`);
      form.reset();
      await onDone();
    } catch (err) {
      toast(`Upload refused: ${err.message}`, 'error');
    } finally {
      button.disabled = false;
      progress.hidden = true;
    }
  });
  return form;
}

function byUrlForm(onDone) {
  const url = h('input', { type: 'url', name: 'manifestUrl', required: true, placeholder: 'https://…/manifest.json' });
  const form = h('form', { class: 'card form' }, h('h2', null, 'Register by URL'), h('p', { class: 'hint' }, 'A package already served elsewhere; its .sig must sit next to the manifest.'), field('manifest URL', url), h('button', { type: 'submit' }, 'Register'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('POST', '/v1/releases', { manifestUrl: url.value });
      toast(`Release ${r.version} registered`);
      form.reset();
      await onDone();
    } catch (err) {
      toast(`Refused: ${err.message}`, 'error');
    }
  });
  return form;
}

/** Releases: the verified packages, upload and registration. */
export function releasesView() {
  const list = h('div', { 'data-testid': 'release-table' });
  const open = new Set();
  const view = {
    mount: () => h('div', { class: 'page' }, h('h1', null, 'Releases'), list, h('div', { class: 'two' }, uploadForm(() => view.refresh()), byUrlForm(() => view.refresh()))),
    async refresh() {
      const { items } = await api('GET', '/v1/releases');
      const rows = [];
      for (const r of items) {
        rows.push(
          h(
            'tr',
            { class: 'link-row', 'data-release': r.releaseId, onclick: () => (open.has(r.releaseId) ? open.delete(r.releaseId) : open.add(r.releaseId), view.refresh()) },
            h('td', { class: 'mono' }, r.version),
            h('td', null, r.compatible),
            h('td', null, bytes(r.payloadSize)),
            h('td', { class: 'mono', title: r.payloadSha256 }, r.payloadSha256.slice(0, 12) + '…'),
            h('td', null, r.source),
            h('td', null, when(r.manifestCreatedAt)),
            h('td', null, when(r.createdAt)),
          ),
        );
        if (open.has(r.releaseId)) {
          rows.push(
            h(
              'tr',
              { class: 'detail-row' },
              h(
                'td',
                { colspan: 7 },
                h(
                  'dl',
                  { class: 'facts' },
                  [
                    ['release id', r.releaseId],
                    ['manifest', r.manifestUrl],
                    ['payload sha256', r.payloadSha256],
                    ['payload size', `${r.payloadSize} bytes`],
                    ['signature', 'verified with the release key at registration'],
                  ].map(([k, v]) => [h('dt', null, k), h('dd', { class: 'mono' }, v)]),
                ),
              ),
            ),
          );
        }
      }
      replace(
        list,
        items.length === 0
          ? h('p', { class: 'empty' }, 'No releases yet. Upload one below.')
          : h('table', { class: 'grid' }, h('thead', null, h('tr', null, ['version', 'compatible', 'payload', 'sha256', 'source', 'built', 'registered'].map((c) => h('th', null, c)))), h('tbody', null, rows)),
      );
    },
  };
  return view;
}
