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
