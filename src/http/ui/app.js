// lockstep's page: sequences, runs, the machine graph with the run's current state, its timeline, and the
// cancel and rerun actions. Plain browser JavaScript, no dependencies, nothing loaded from other origins.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'lockstep.token';
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

const state = {
  sequences: [],
  runs: [],
  sequence: null,
  runId: null,
  view: null,
  graphKey: null,
  runStream: null,
};

// ---------- helpers ----------

function el(tag, attrs = {}, ...children) {
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

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY) ?? '';
}

let toastTimer;
function toast(message, tone = 'info') {
  const t = $('toast');
  t.textContent = message;
  t.dataset.tone = tone;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), tone === 'error' ? 8000 : 3500);
}

async function api(path, options = {}) {
  const headers = { accept: 'application/json', ...(options.headers ?? {}) };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.auth) {
    const t = token();
    if (t) headers.authorization = `Bearer ${t}`;
  }
  const res = await fetch(path, { method: options.method ?? 'GET', headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const type = res.headers.get('content-type') ?? '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    const message = data && data.error ? data.error.message : `${res.status} ${res.statusText}`;
    const error = new Error(message);
    error.status = res.status;
    throw error;
  }
  return data;
}

function reportError(error) {
  toast(error.message, 'error');
  if (error.status === 401 || error.status === 503) $('token-input').focus();
}

const time = (ms) => {
  const d = new Date(ms);
  return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
};
const shortId = (id) => (id.length > 12 ? id.slice(0, 8) : id);
const kindLabel = (kind) => (kind === 'cleaning-up' ? 'cleaning up' : kind);

// ---------- sequences and runs ----------

function renderSequences() {
  const list = $('sequence-list');
  list.replaceChildren(
    ...state.sequences.map((s) =>
      el('li', { class: s.name === state.sequence ? 'selected' : '', dataset: { sequence: s.name } },
        el('div', { class: 'title' }, s.name),
        el('div', { class: 'meta' }, `v${s.version}`, '·', `${s.tasks.length} task${s.tasks.length === 1 ? '' : 's'}`,
          s.finally.length ? `· ${s.finally.length} finally` : null),
      ),
    ),
  );
}

function renderRuns() {
  const list = $('run-list');
  list.replaceChildren(
    ...state.runs.map((r) =>
      el('li', { class: r.runId === state.runId ? 'selected' : '', dataset: { runId: r.runId, status: r.status } },
        el('div', { class: 'title' }, el('code', {}, shortId(r.runId)), ' ', el('span', { class: 'badge', dataset: { kind: r.status } }, r.status)),
        el('div', { class: 'meta' }, r.sequence, '·', time(r.createdAt), r.currentTask && r.status !== 'succeeded' ? `· ${r.currentTask}` : null,
          r.rerunOf ? el('span', { class: 'rerun-of' }, `· rerun of ${shortId(r.rerunOf)}`) : null),
      ),
    ),
  );
  $('run-list-empty').hidden = state.runs.length > 0;
}

async function loadSequences() {
  const { sequences } = await api('/api/sequences');
  state.sequences = sequences;
  renderSequences();
}

let runsTimer;
function refreshRunsSoon() {
  clearTimeout(runsTimer);
  runsTimer = setTimeout(() => loadRuns().catch(reportError), 120);
}

async function loadRuns() {
  const params = new URLSearchParams({ limit: '50' });
  if (state.sequence) params.set('sequence', state.sequence);
  const status = $('run-filter').value;
  if (status) params.set('status', status);
  const { runs } = await api(`/api/runs?${params}`);
  state.runs = runs;
  renderRuns();
}

// ---------- graph ----------

async function showGraph(url, key) {
  if (state.graphKey === key) return;
  state.graphKey = key;
  const box = $('graph');
  box.replaceChildren(el('p', { class: 'placeholder' }, 'Drawing the machine…'));
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`cannot draw the graph: ${res.status} ${res.statusText}`);
    const text = await res.text();
    if (state.graphKey !== key) return;
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    const svg = doc.documentElement;
    if (svg.nodeName !== 'svg') throw new Error('cannot draw the graph: the server sent no SVG');
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    box.replaceChildren(document.importNode(svg, true));
    highlight();
  } catch (error) {
    state.graphKey = null;
    box.replaceChildren(el('p', { class: 'placeholder' }, error.message));
  }
}

const graphNode = (id) => $('graph').querySelector(`g[id="${CSS.escape(id)}"]`);

function mark(id, ...classes) {
  const g = graphNode(id);
  if (g) g.classList.add(...classes);
}

/** Colours the graph for the selected run: done and failed tasks, and the current state by kind. */
function highlight() {
  const box = $('graph');
  for (const g of box.querySelectorAll('g.ls')) {
    g.classList.remove('ls', 'ls-current', 'ls-done', 'ls-failed', 'ls-continued', 'ls-active', ...[...g.classList].filter((c) => c.startsWith('k-')));
  }
  const s = state.view?.state;
  const current = $('current-state');
  if (!s) {
    current.textContent = state.view ? 'The state of this run cannot be shown: its definition is not loaded.' : '';
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
  for (const e of state.view.history) if (e.type === 'task.succeeded' && e.phase === 'finally') mark(`finalizing.${e.task}.running`, 'ls', 'ls-done');
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
  current.replaceChildren('Current state: ', el('strong', {}, s.node), ` · ${what}`, s.reason && FINAL.has(s.kind) ? ` · ${s.reason}` : '');
}

// ---------- timeline ----------

/** The run whose result a task.succeeded entry reuses, when it is one of a rerun's reused tasks. */
function reusedHere(e) {
  const first = state.view?.history[0];
  if (!first || first.type !== 'run.started' || !first.rerunOf || !first.reused?.includes(e.task) || e.phase !== 'main') return undefined;
  return e.at === first.at ? first.rerunOf : undefined;
}

function describe(e) {
  const phase = e.phase && e.phase !== 'main' ? ` (${e.phase === 'compensate' ? 'compensation' : 'finally'})` : '';
  switch (e.type) {
    case 'run.started':
      return { tone: 'start', what: `run started: ${e.sequence} v${e.version}`, detail: e.rerunOf ? `rerun of ${e.rerunOf}${e.reused?.length ? `, reusing ${e.reused.join(', ')}` : ''}` : '' };
    case 'task.started':
      return { tone: e.phase === 'compensate' ? 'comp' : e.phase === 'finally' ? 'fin' : 'start', what: `${e.task}${phase} started`, detail: `attempt ${e.attempt}` };
    case 'task.succeeded': {
      const result = e.result !== undefined ? ` → ${JSON.stringify(e.result)}` : '';
      const reused = reusedHere(e);
      return { tone: 'ok', what: `${e.task}${phase} ${reused ? 'reused' : 'succeeded'}`, detail: reused ? `result of run ${shortId(reused)}${result}` : `attempt ${e.attempt}, ${e.durationMs}ms${result}` };
    }
    case 'task.failed':
      return { tone: e.willRetry ? 'retry' : 'bad', what: `${e.task}${phase} failed`, detail: `${e.error.message}${e.willRetry ? ` · retry in ${e.retryInMs}ms` : ''}` };
    case 'task.interrupted':
      return { tone: 'retry', what: `${e.task}${phase} interrupted`, detail: `attempt ${e.attempt} runs again` };
    case 'timer.fired':
      return { tone: 'retry', what: 'timer fired', detail: e.timerId };
    case 'run.cancelling':
      return { tone: 'bad', what: 'cancelling', detail: e.reason };
    case 'run.timed-out':
      return { tone: 'bad', what: 'run timed out', detail: '' };
    case 'event.ignored':
      return { tone: '', what: `event ignored (${e.reason})`, detail: e.event?.type ?? '' };
    default:
      return { tone: e.type === 'run.succeeded' ? 'ok' : 'bad', what: e.type.replace('.', ' '), detail: `${e.durationMs}ms${e.reason ? ` · ${e.reason}` : ''}${e.failedTasks?.length ? ` · failed: ${e.failedTasks.join(', ')}` : ''}` };
  }
}

function timelineItem(e) {
  const d = describe(e);
  return el('li', { dataset: { type: e.type, tone: d.tone } },
    el('div', { class: 'when' }, time(e.at)),
    el('div', { class: 'what' }, d.what),
    d.detail ? el('div', { class: 'detail' }, d.detail) : null,
  );
}

function renderTimeline() {
  const history = state.view?.history ?? [];
  $('timeline').replaceChildren(...history.map(timelineItem));
  $('timeline-empty').hidden = history.length > 0;
}

// ---------- selection ----------

function renderHeader() {
  const badge = $('run-status');
  const run = state.view?.run;
  const seq = state.sequences.find((s) => s.name === state.sequence);
  $('view-title').textContent = run ? `${run.sequence} · run ${shortId(run.runId)}` : seq ? seq.name : 'Select a sequence';
  badge.hidden = !run;
  if (run) {
    const kind = run.status === 'running' ? state.view.state?.kind ?? 'running' : run.status;
    badge.textContent = kindLabel(kind);
    badge.dataset.kind = kind;
  }
  $('start-run').disabled = !seq;
  $('cancel-run').disabled = !run || run.status !== 'running';
  $('rerun-open').disabled = !run || run.status === 'running' || !state.view.tasks.length;
  $('rerun-open').title = run && run.status === 'running' ? 'the run is still running' : '';
}

function selectSequence(name) {
  if (state.sequence !== name) closeRunStream();
  state.sequence = name;
  state.runId = null;
  state.view = null;
  renderSequences();
  renderHeader();
  renderTimeline();
  closeRerun();
  highlight();
  const seq = state.sequences.find((s) => s.name === name);
  if (seq) void showGraph(seq.links.graphSvg, `seq:${seq.name}:${seq.hash}`);
  loadRuns().catch(reportError);
}

function closeRunStream() {
  state.runStream?.close();
  state.runStream = null;
}

function applyView(view) {
  state.view = view;
  renderHeader();
  renderTimeline();
  highlight();
}

function selectRun(runId) {
  closeRunStream();
  closeRerun();
  state.runId = runId;
  renderRuns();
  const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
  state.runStream = source;
  source.addEventListener('snapshot', (ev) => {
    if (state.runId !== runId) return;
    const view = JSON.parse(ev.data);
    if (view.run.sequence !== state.sequence) {
      state.sequence = view.run.sequence;
      renderSequences();
    }
    applyView(view);
    void showGraph(view.links.graphSvg, `run:${view.run.definitionHash}`);
  });
  source.addEventListener('entry', (ev) => {
    if (state.runId !== runId || !state.view) return;
    const u = JSON.parse(ev.data);
    const history = state.view.history;
    if (u.seq >= 0 && u.seq < history.length) return;
    if (u.seq > history.length || u.seq < 0) {
      api(`/api/runs/${encodeURIComponent(runId)}`).then((v) => state.runId === runId && applyView(v)).catch(reportError);
      return;
    }
    history.push(u.entry);
    $('timeline').append(timelineItem(u.entry));
    $('timeline-empty').hidden = true;
    if (u.state) state.view.state = u.state;
    const final = u.entry.type === 'run.succeeded' || u.entry.type === 'run.failed' || u.entry.type === 'run.cancelled';
    if (final || u.entry.type === 'task.started') {
      api(`/api/runs/${encodeURIComponent(runId)}`).then((v) => state.runId === runId && applyView(v)).catch(reportError);
    }
    renderHeader();
    highlight();
  });
}

// ---------- actions ----------

async function startRun() {
  let input;
  const text = $('run-input').value.trim();
  if (text) {
    try {
      input = JSON.parse(text);
    } catch (error) {
      toast(`the input is not JSON: ${error.message}`, 'error');
      return;
    }
  }
  try {
    const res = await api('/api/runs', { method: 'POST', auth: true, body: { sequence: state.sequence, ...(input === undefined ? {} : { input }) } });
    toast(`run ${shortId(res.runId)} started`);
    await loadRuns();
    selectRun(res.runId);
  } catch (error) {
    reportError(error);
  }
}

async function cancelRun() {
  if (!state.runId) return;
  try {
    await api(`/api/runs/${encodeURIComponent(state.runId)}/cancel`, { method: 'POST', auth: true, body: { reason: 'cancelled from the web page' } });
    toast('cancelling: the task in flight stops, then compensations and finally tasks run');
  } catch (error) {
    reportError(error);
  }
}

function closeRerun() {
  $('rerun-panel').hidden = true;
  $('rerun-plan').replaceChildren();
}

function planColumn(title, items, render = (x) => x) {
  return el('div', {},
    el('h3', {}, title),
    items.length ? el('ul', {}, ...items.map((i) => el('li', {}, render(i)))) : el('p', { class: 'none' }, 'none'),
  );
}

async function showPlan(from) {
  const runId = state.runId;
  const q = from ? `?from=${encodeURIComponent(from)}` : '';
  const box = $('rerun-plan');
  try {
    const plan = await api(`/api/runs/${encodeURIComponent(runId)}/rerun-plan${q}`);
    if (state.runId !== runId) return;
    $('rerun-from').value = plan.from;
    $('rerun-confirm').disabled = false;
    $('rerun-confirm').textContent = `Rerun from ${plan.from}`;
    box.replaceChildren(
      planColumn('Reused (not run again)', plan.reused, (r) => `${r.taskId}${r.outcome === 'continued' ? ' (failed, continued)' : ''}`),
      planColumn('Run again', plan.rerun),
      planColumn('Compensations that would fire', plan.compensations, (c) => `${c.id}${c.reused ? ' (of a reused task)' : ''}`),
      planColumn('Cleanups (finally, always run)', plan.finally),
      el('p', { class: 'note' }, 'Compensations fire, in this order, only if a later task fails or the run is cancelled or times out.'),
    );
  } catch (error) {
    $('rerun-confirm').disabled = true;
    box.replaceChildren(el('p', { class: 'none' }, error.message));
  }
}

function openRerun() {
  if (!state.view) return;
  const select = $('rerun-from');
  select.replaceChildren(...state.view.tasks.map((t) => el('option', { value: t.id }, t.id)));
  $('rerun-panel').hidden = false;
  void showPlan(undefined);
}

async function confirmRerun() {
  const from = $('rerun-from').value;
  try {
    const res = await api(`/api/runs/${encodeURIComponent(state.runId)}/rerun`, { method: 'POST', auth: true, body: { from } });
    toast(`run ${shortId(res.runId)} reruns ${shortId(res.rerunOf)} from ${from}`);
    closeRerun();
    await loadRuns();
    selectRun(res.runId);
  } catch (error) {
    reportError(error);
  }
}

// ---------- live updates for the run list ----------

function connectAll() {
  const source = new EventSource('/api/events');
  const conn = $('connection');
  source.addEventListener('open', () => (conn.dataset.state = 'open'));
  source.addEventListener('error', () => (conn.dataset.state = source.readyState === EventSource.CLOSED ? 'error' : 'connecting'));
  source.addEventListener('entry', (ev) => {
    const u = JSON.parse(ev.data);
    const known = state.runs.find((r) => r.runId === u.runId);
    if (!known) {
      if (u.entry.type === 'run.started') refreshRunsSoon();
      return;
    }
    // Keep the list current at once; the refresh that follows brings the stored record.
    if (u.entry.type === 'task.started') known.currentTask = u.entry.task;
    if (FINAL.has(u.entry.outcome)) known.status = u.entry.outcome;
    renderRuns();
    if (u.entry.type.startsWith('run.')) refreshRunsSoon();
  });
}

// ---------- start ----------

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const t = params.get('token');
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    params.delete('token');
    history.replaceState(null, '', `${location.pathname}${location.search}${params.size ? `#${params}` : ''}`);
  }
  return { run: params.get('run'), sequence: params.get('sequence') };
}

async function main() {
  const wanted = readHash();
  $('token-input').value = token();
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token-input').value.trim());
    toast('token saved for this tab');
  });
  $('sequence-list').addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-sequence]');
    if (li) selectSequence(li.dataset.sequence);
  });
  $('run-list').addEventListener('click', (ev) => {
    const li = ev.target.closest('li[data-run-id]');
    if (li) selectRun(li.dataset.runId);
  });
  $('run-filter').addEventListener('change', () => loadRuns().catch(reportError));
  $('start-run').addEventListener('click', startRun);
  $('cancel-run').addEventListener('click', cancelRun);
  $('rerun-open').addEventListener('click', openRerun);
  $('rerun-close').addEventListener('click', closeRerun);
  $('rerun-confirm').addEventListener('click', confirmRerun);
  $('rerun-from').addEventListener('change', (ev) => showPlan(ev.target.value));
  $('graph-fit').addEventListener('click', () => {
    const fit = $('graph').classList.toggle('fit');
    $('graph-fit').textContent = fit ? 'Actual size' : 'Fit';
  });

  try {
    const health = await api('/api/health');
    $('mode').textContent = `${health.mode} mode${health.auth ? '' : ' · read-only (LOCKSTEP_TOKEN is not set)'}`;
    await loadSequences();
    connectAll();
    const first = wanted.sequence ?? state.sequences[0]?.name;
    if (first) selectSequence(first);
    else await loadRuns();
    if (wanted.run) selectRun(wanted.run);
  } catch (error) {
    reportError(error);
  }
}

void main();
