// Small DOM helpers of the page.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Outcomes that end a run. */
export const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Creates an element: attributes (`class`, `dataset`, others), then children (nodes or text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** Shows a short message at the bottom of the page. */
let toastTimer;
export function toast(message, tone = 'info') {
  const t = $('toast');
  t.textContent = message;
  t.dataset.tone = tone;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), tone === 'error' ? 8000 : 3500);
}

export const time = (ms) => {
  const d = new Date(ms);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
};
export const shortId = (id) => (id.length > 12 ? id.slice(0, 8) : id);
export const kindLabel = (kind) => (kind === 'cleaning-up' ? 'cleaning up' : kind);

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** A date and time in the browser's zone, `2026-12-02 08:15:03`: what the run list shows as "started". */
export const dateTime = (ms) => {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};

/** A duration for people: `850ms`, `12.3s`, `4m 05s`, `2h 03m`. */
export const duration = (ms) => {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
};

/** Shows one pane of a tab group: `[data-tab]` buttons and `[data-pane]` panes under `root`. */
export function selectTab(root, name) {
  for (const b of root.querySelectorAll('[data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  for (const p of root.querySelectorAll('[data-pane]')) p.hidden = p.dataset.pane !== name;
}
