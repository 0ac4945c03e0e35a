// The machine graph: Graphviz's SVG, inlined, with the selected run's states coloured by class.
import { $, el, FINAL, kindLabel } from './dom.js';

let graphKey = null;

/**
 * Draws the SVG at `url` (once per `key`), then colours it for `currentView()`. Graphviz keeps state paths as
 * group ids, e.g. `<g id="main.build.running">`.
 */
export async function showGraph(url, key, currentView) {
  if (graphKey === key) return;
  graphKey = key;
  const box = $('graph');
  box.replaceChildren(el('p', { class: 'placeholder' }, 'Drawing the machine…'));
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`cannot draw the graph: ${res.status} ${res.statusText}`);
    const text = await res.text();
    if (graphKey !== key) return;
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const svg = doc.documentElement;
    if (svg.nodeName !== 'svg') throw new Error('cannot draw the graph: the server sent no SVG');
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    box.replaceChildren(document.importNode(svg, true));
    highlight(currentView());
  } catch (error) {
    graphKey = null;
    box.replaceChildren(el('p', { class: 'placeholder' }, error.message));
  }
}

const graphNode = (id) => $('graph').querySelector(`g[id="${CSS.escape(id)}"]`);

function mark(id, ...classes) {
  const g = graphNode(id);
  if (g) g.classList.add(...classes);
}

/** Colours the graph for a run's view: done and failed tasks, and the current state by kind. */
export function highlight(view) {
  const box = $('graph');
  for (const g of box.querySelectorAll('g.ls')) {
    g.classList.remove(
      'ls',
      'ls-current',
      'ls-done',
      'ls-failed',
      'ls-continued',
      'ls-active',
      ...[...g.classList].filter((c) => c.startsWith('k-')),
    );
  }
  const s = view?.state;
  const current = $('current-state');
  if (!s) {
    current.textContent = view ? 'The state of this run cannot be shown: its definition is not loaded.' : '';
    current.dataset.node = '';
    current.dataset.kind = '';
    return;
  }
  for (const t of s.completed) mark(`main.${t}.running`, 'ls', 'ls-done');
  for (const t of s.continued) mark(`main.${t}.running`, 'ls', 'ls-continued');
  for (const t of s.compensated) {
    const main = t.replace(/\.compensate$/, '');
    mark(`compensating.${main}.running`, 'ls', 'ls-done');
  }
  if (s.failedTask) mark(`main.${s.failedTask}.running`, 'ls', 'ls-failed');
  for (const t of s.compensationFailed) mark(`compensating.${t.replace(/\.compensate$/, '')}.running`, 'ls', 'ls-failed');
  for (const t of s.finallyFailed) mark(`finalizing.${t}.running`, 'ls', 'ls-failed');
  // The context does not list finally tasks that succeeded: the history does.
  for (const e of view.history)
    if (e.type === 'task.succeeded' && e.phase === 'finally') mark(`finalizing.${e.task}.running`, 'ls', 'ls-done');
  for (const id of s.activeNodes.slice(0, -1)) mark(id, 'ls', 'ls-active');
  const node = graphNode(s.node);
  if (node) {
    node.classList.remove('ls-done', 'ls-failed', 'ls-continued');
    node.classList.add('ls', 'ls-current', `k-${s.kind}`);
  }
  current.dataset.node = s.node;
  current.dataset.kind = s.kind;
  const attempt = s.attempt && !FINAL.has(s.kind) ? ` (attempt ${s.attempt})` : '';
  const what = FINAL.has(s.kind) ? `run ${s.kind}` : `${s.task ?? s.node} — ${kindLabel(s.kind)}${attempt}`;
  const stopping = s.stopping ? ` · waiting for ${s.stopping.task} (attempt ${s.stopping.attempt}, stopped) to end` : '';
  const interrupted = view.run?.status === 'interrupted' ? ' · interrupted: no live process drives it (Resume continues it)' : '';
  current.replaceChildren(
    'Current state: ',
    el('strong', {}, s.node),
    ` · ${what}${stopping}${interrupted}`,
    s.reason && FINAL.has(s.kind) ? ` · ${s.reason}` : '',
  );
}
