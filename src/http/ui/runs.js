// The run list across all sequences: newest first, with search by id prefix, filters, and pages by cursor.
import { api, reportError } from './api.js';
import { $, dateTime, duration, el, FINAL, shortId } from './dom.js';
import { waitingText } from './wait.js';

const PAGE = 50;
const list = { runs: [], next: null, selected: null };

/** Whether a run's clock still runs: an ended run's stopped, and so did an interrupted one's when its process died. */
export const ticking = (r) => !FINAL.has(r.status) && r.status !== 'interrupted';

/** A run's duration: start to its last entry once ended or interrupted, start to now while it runs. */
export const runDuration = (r) => (ticking(r) ? Date.now() : r.updatedAt) - r.createdAt;

/** The query of the current filters, as `GET /api/runs` takes it. */
function query() {
  const params = new URLSearchParams({ limit: String(PAGE) });
  const prefix = $('run-search').value.trim();
  if (prefix) params.set('idPrefix', prefix);
  if ($('run-sequence').value) params.set('sequence', $('run-sequence').value);
  if ($('run-filter').value) params.set('status', $('run-filter').value);
  // datetime-local values are local times; the API takes ms since the epoch.
  for (const [id, name] of [
    ['run-since', 'since'],
    ['run-until', 'until'],
  ]) {
    const v = $(id).value;
    if (v) params.set(name, String(new Date(v).getTime()));
  }
  return params;
}

function row(r) {
  const task =
    r.status === 'waiting' && r.waiting ? waitingText(r.waiting) : r.currentTask && r.status !== 'succeeded' ? r.currentTask : '';
  return el(
    'li',
    { class: `run-row${r.runId === list.selected ? ' selected' : ''}`, dataset: { runId: r.runId, status: r.status } },
    el('span', { class: 'run-id', title: r.runId }, el('code', {}, shortId(r.runId))),
    el('span', {}, el('span', { class: 'badge', dataset: { kind: r.status } }, r.status)),
    el('span', { class: 'run-seq' }, r.sequence, r.rerunOf ? el('span', { class: 'rerun-of' }, ` · rerun of ${shortId(r.rerunOf)}`) : null),
    el('span', { class: 'run-started' }, dateTime(r.createdAt)),
    el('span', { class: 'run-duration' }, duration(runDuration(r))),
    el('span', { class: 'run-task', title: task }, task ? `${r.status === 'failed' ? 'failed: ' : ''}${task}` : ''),
  );
}

function render() {
  $('run-list').replaceChildren(...list.runs.map(row));
  const filtered = [...query().keys()].some((k) => k !== 'limit');
  $('run-list-empty').textContent = filtered ? 'No runs match these filters.' : 'No runs yet.';
  $('run-list-empty').hidden = list.runs.length > 0;
  $('run-more').hidden = !list.next;
  $('runs-count').textContent = `${list.runs.length}${list.next ? '+' : ''} shown`;
}

/** Loads the first page for the current filters (or, with `more`, the next page after the ones shown). */
export async function loadRuns(more = false) {
  const params = query();
  if (more && list.next) params.set('cursor', list.next);
  const page = await api(`/api/runs?${params}`);
  list.runs = more ? [...list.runs, ...page.runs] : page.runs;
  list.next = page.next ?? null;
  render();
}

let timer;
/** Reloads the list shortly, once for a burst of changes. */
export function refreshRunsSoon() {
  clearTimeout(timer);
  timer = setTimeout(() => loadRuns().catch(reportError), 150);
}

/** Marks the selected run in the list. */
export function markSelected(runId) {
  list.selected = runId;
  render();
}

/** Keeps the shown rows current from a live entry; a new or ended run reloads the list. */
export function noteEntry(u) {
  const known = list.runs.find((r) => r.runId === u.runId);
  if (!known) {
    if (u.entry.type === 'run.started') refreshRunsSoon();
    return;
  }
  if (u.entry.type === 'task.started') known.currentTask = u.entry.task;
  if (u.entry.type === 'task.started' && known.status === 'interrupted') known.status = 'running';
  // A wait that begins or ends changes the row's status and text: the server tells them.
  if (u.entry.type === 'task.waiting' || known.status === 'waiting') refreshRunsSoon();
  if (FINAL.has(u.entry.outcome)) {
    known.status = u.entry.outcome;
    known.updatedAt = u.entry.at;
  }
  render();
  if (u.entry.type.startsWith('run.')) refreshRunsSoon();
}

/** Fills the sequence filter and wires the filters; `onSelect(runId)` opens a run. */
export function initRuns(sequences, onSelect) {
  $('run-sequence').append(...sequences.map((s) => el('option', { value: s.name }, s.name)));
  const reload = () => loadRuns().catch(reportError);
  let typing;
  $('run-search').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(reload, 200);
  });
  for (const id of ['run-sequence', 'run-filter', 'run-since', 'run-until']) $(id).addEventListener('change', reload);
  $('run-filters').addEventListener('reset', () => setTimeout(reload, 0));
  $('run-filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    // Enter on a search that names one run opens it.
    if (list.runs.length === 1) onSelect(list.runs[0].runId);
    else reload();
  });
  $('run-more').addEventListener('click', () => loadRuns(true).catch(reportError));
  $('run-list').addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-run-id]');
    if (li) onSelect(li.dataset.runId);
  });
  // Durations of running runs grow.
  setInterval(() => {
    for (const r of list.runs) {
      if (!ticking(r)) continue;
      const cell = $('run-list').querySelector(`li[data-run-id="${CSS.escape(r.runId)}"] .run-duration`);
      if (cell) cell.textContent = duration(runDuration(r));
    }
  }, 1000);
}
