// The graph: Graphviz's SVG, inlined, in one of two views. The task view (the default) has one node per task,
// `<g id="task:build">` (`task:build.compensate`, `task:cleanup`, `start`, `end:failed`), coloured by each task's
// status from the run view; the machine view has XState's states, `<g id="main.build.running">`, with the run's
// active states highlighted. The button next to "Fit" switches views; `?graph=machine` in the page's address
// opens the machine view first, and the choice is remembered in this browser.
import { $, el, FINAL, kindLabel } from './dom.js';

const VIEW_KEY = 'lockstep.graphView';
const VIEWS = ['tasks', 'machine'];
const STATUSES = ['pending', 'running', 'retrying', 'succeeded', 'failed', 'continued', 'compensated', 'skipped'];

const wanted = new URLSearchParams(location.search).get('graph');
let graphView = VIEWS.includes(wanted) ? wanted : VIEWS.includes(localStorage.getItem(VIEW_KEY)) ? localStorage.getItem(VIEW_KEY) : 'tasks';
let graphKey = null;
let shown = null;

/** The current view: `tasks` or `machine`. */
export const currentGraphView = () => graphView;

// The page's hook: the view toggle next to "Fit", a legend of task statuses, and actual size (scrolling) first:
// shrinking a large graph to fit makes its labels too small to read.
const toggle = el('button', { id: 'graph-view', type: 'button', class: 'small graph-view-toggle' });
const legend = el(
  'ul',
  { class: 'legend graph-legend', 'aria-label': 'task statuses' },
  STATUSES.map((s) => el('li', {}, el('i', { class: `swatch graph-swatch graph-s-${s}` }), s)),
);
$('graph-fit').before(toggle);
$('graph').after(legend);
$('graph').classList.remove('fit');
$('graph-fit').textContent = 'Fit';
toggle.addEventListener('click', () => {
  graphView = graphView === 'tasks' ? 'machine' : 'tasks';
  localStorage.setItem(VIEW_KEY, graphView);
  if (shown) void showGraph(...shown);
  else showToggle();
});

function showToggle() {
  toggle.textContent = graphView === 'tasks' ? 'Machine view' : 'Task view';
  toggle.dataset.view = graphView;
  toggle.title = graphView === 'tasks' ? "show the state machine's states" : 'show one node per task';
  $('graph').dataset.view = graphView;
  $('graph').setAttribute('aria-label', graphView === 'tasks' ? 'task graph' : 'state machine graph');
  legend.hidden = graphView !== 'tasks';
  for (const l of document.querySelectorAll('.legend:not(.graph-legend)')) l.hidden = graphView === 'tasks';
}
showToggle();

/**
 * Draws the graph at `url` in the current view (once per `key` and view), then colours it for `currentView()`.
 */
export async function showGraph(url, key, currentView) {
  shown = [url, key, currentView];
  showToggle();
  const view = graphView;
  if (graphKey === `${key}:${view}`) return;
  graphKey = `${key}:${view}`;
  const box = $('graph');
  box.replaceChildren(el('p', { class: 'placeholder' }, view === 'tasks' ? 'Drawing the tasks…' : 'Drawing the machine…'));
  try {
    const res = await fetch(`${url}?view=${view}`);
    if (!res.ok) {
      const message = (await res.json().catch(() => null))?.error?.message;
      throw new Error(`cannot draw the graph: ${message ?? `${res.status} ${res.statusText}`}`);
    }
    const text = await res.text();
    if (graphKey !== `${key}:${view}`) return;
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const svg = doc.documentElement;
    if (svg.nodeName !== 'svg') throw new Error('cannot draw the graph: the server sent no SVG');
    svg.classList.add('graph-svg', `graph-${view}`);
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

function clear(box) {
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
  for (const g of box.querySelectorAll('g.graph-marked')) {
    g.classList.remove('graph-marked', 'graph-end', ...STATUSES.map((s) => `graph-s-${s}`));
    delete g.dataset.status;
    delete g.dataset.attempts;
  }
  for (const t of box.querySelectorAll('text.graph-attempts')) t.remove();
}

/** `attempt 2` while a task runs or waits to retry, `3 attempts` once it took more than one. */
function attemptsText(status, attempts) {
  if (attempts < 1) return '';
  if (status === 'running' || status === 'retrying') return `attempt ${attempts}`;
  return attempts > 1 ? `${attempts} attempts` : '';
}

/** Colours one task's node by its status and writes its attempt count beside its top right corner. */
function markTask(taskId, status, attempts) {
  const g = graphNode(`task:${taskId}`);
  if (!g) return;
  g.classList.add('graph-marked', `graph-s-${status}`);
  g.dataset.status = status;
  g.dataset.attempts = String(attempts);
  const text = attemptsText(status, attempts);
  const shape = g.querySelector('path, polygon');
  if (!text || !shape) return;
  const box = shape.getBBox();
  const label = document.createElementNS(g.namespaceURI, 'text');
  label.setAttribute('class', 'graph-attempts');
  // Right of the box's top corner: above it, the text would cross the arrow coming in.
  label.setAttribute('x', String(box.x + box.width + 4));
  label.setAttribute('y', String(box.y + 10));
  label.setAttribute('text-anchor', 'start');
  label.textContent = text;
  g.append(label);
}

/** The task view: every task by its status (the run view's `tasks` and `finallyTasks`), and the end reached. */
function highlightTasks(view) {
  for (const t of view.tasks ?? []) {
    markTask(t.id, t.status, t.attempts);
    if (t.compensation) markTask(t.compensation.id, t.compensation.status, t.compensation.attempts);
  }
  for (const t of view.finallyTasks ?? []) markTask(t.id, t.status, t.attempts);
  const s = view.state;
  if (s && FINAL.has(s.kind)) mark(`end:${s.kind}`, 'graph-marked', 'graph-end');
}

/** The machine view: done and failed tasks, and the current state by kind. */
function highlightMachine(view) {
  const s = view.state;
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
}

/** Colours the graph for a run's view, in the current graph view, and says where the run is. */
export function highlight(view) {
  clear($('graph'));
  const s = view?.state;
  const current = $('current-state');
  if (!s) {
    current.textContent = view ? 'The state of this run cannot be shown: its definition is not loaded.' : '';
    current.dataset.node = '';
    current.dataset.kind = '';
    return;
  }
  if (graphView === 'tasks') highlightTasks(view);
  else highlightMachine(view);
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
