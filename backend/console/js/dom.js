// Building DOM from data without innerHTML: every string becomes a text node, so names and
// messages that come from appliances can never turn into markup.

/** h('tr', {class: 'x', onclick: fn}, child, 'text', [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

export const short = (id) => (id ? String(id).slice(0, 8) : '');

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function ago(iso) {
  if (!iso) return '';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 0) return `in ${until(-s)}`;
  if (s < 5) return 'just now';
  return `${until(s)} ago`;
}

function until(s) {
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function bytes(n) {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export const badge = (status) => h('span', { class: `badge s-${String(status).replace(/[^a-z_-]/gi, '')}` }, String(status).replace(/_/g, ' '));

/** A stacked bar: segments [{n, cls, label}] of total. */
export function bar(segments, total, label) {
  const el = h('div', { class: 'bar', title: segments.filter((s) => s.n > 0).map((s) => `${s.label}: ${s.n}`).join(', ') });
  for (const s of segments) {
    if (!s.n) continue;
    const seg = h('span', { class: `seg ${s.cls}` });
    seg.style.width = `${(100 * s.n) / Math.max(total, 1)}%`;
    el.append(seg);
  }
  return label ? h('div', { class: 'bar-row' }, el, h('span', { class: 'bar-label' }, label)) : el;
}

export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}

export function select(name, options, value) {
  return h('select', { name }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
}

/** A button that runs an async action, disabled while it runs; errors go to the toast. */
export function action(label, run, attrs = {}) {
  const b = h('button', { ...attrs, type: 'button' }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await run();
    } catch (err) {
      toast(err.message, 'error');
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}
