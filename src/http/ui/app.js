// lockstep's page: sequences, runs, the machine graph with the run's current state, its timeline, and the
// cancel and rerun actions. Plain browser JavaScript modules, no dependencies, nothing from other origins.
import { api, reportError, TOKEN_KEY, token } from './api.js';
import { $, el, FINAL, kindLabel, shortId, time, toast } from './dom.js';
import { showGraph as drawGraph, highlight as drawState } from './graph.js';
import { renderTimeline as drawTimeline, timelineItem } from './timeline.js';

const state = {
  sequences: [],
  runs: [],
  sequence: null,
  runId: null,
  view: null,
  runStream: null,
};

const highlight = () => drawState(state.view);
const showGraph = (url, key) => drawGraph(url, key, () => state.view);
const renderTimeline = () => drawTimeline(state.view?.history ?? []);

// ---------- sequences and runs ----------

function renderSequences() {
  const list = $('sequence-list');
  list.replaceChildren(
    ...state.sequences.map((s) =>
      el(
        'li',
        { class: s.name === state.sequence ? 'selected' : '', dataset: { sequence: s.name } },
        el('div', { class: 'title' }, s.name),
        el(
          'div',
          { class: 'meta' },
          `v${s.version}`,
          '·',
          `${s.tasks.length} task${s.tasks.length === 1 ? '' : 's'}`,
          s.finally.length ? `· ${s.finally.length} finally` : null,
        ),
      ),
    ),
  );
}

function renderRuns() {
  const list = $('run-list');
  list.replaceChildren(
    ...state.runs.map((r) =>
      el(
        'li',
        { class: r.runId === state.runId ? 'selected' : '', dataset: { runId: r.runId, status: r.status } },
        el(
          'div',
          { class: 'title' },
          el('code', {}, shortId(r.runId)),
          ' ',
          el('span', { class: 'badge', dataset: { kind: r.status } }, r.status),
        ),
        el(
          'div',
          { class: 'meta' },
          r.sequence,
          '·',
          time(r.createdAt),
          r.currentTask && r.status !== 'succeeded' ? `· ${r.currentTask}` : null,
          r.rerunOf ? el('span', { class: 'rerun-of' }, `· rerun of ${shortId(r.rerunOf)}`) : null,
        ),
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

// ---------- selection ----------

function renderHeader() {
  const badge = $('run-status');
  const run = state.view?.run;
  const seq = state.sequences.find((s) => s.name === state.sequence);
  $('view-title').textContent = run ? `${run.sequence} · run ${shortId(run.runId)}` : seq ? seq.name : 'Select a sequence';
  badge.hidden = !run;
  if (run) {
    const kind = run.status === 'running' ? (state.view.state?.kind ?? 'running') : run.status;
    badge.textContent = kindLabel(kind);
    badge.dataset.kind = kind;
  }
  $('start-run').disabled = !seq;
  $('cancel-run').disabled = run?.status !== 'running';
  // Interrupted: marked running, but no live process drives it (it died); resuming continues it here.
  $('resume-run').disabled = run?.status !== 'interrupted';
  $('rerun-open').disabled = !run || run.status === 'running' || run.status === 'interrupted' || !state.view.tasks.length;
  $('rerun-open').title =
    run && run.status === 'running'
      ? 'the run is still running'
      : run && run.status === 'interrupted'
        ? 'the run has not ended: resume it'
        : '';
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
      api(`/api/runs/${encodeURIComponent(runId)}`)
        .then((v) => state.runId === runId && applyView(v))
        .catch(reportError);
      return;
    }
    history.push(u.entry);
    $('timeline').append(timelineItem(u.entry, history));
    $('timeline-empty').hidden = true;
    if (u.state) state.view.state = u.state;
    const final = u.entry.type === 'run.succeeded' || u.entry.type === 'run.failed' || u.entry.type === 'run.cancelled';
    // Every task entry changes a task's status (graph.js colours the task view by them): fetch the run's view again.
    if (final || u.entry.type.startsWith('task.')) {
      api(`/api/runs/${encodeURIComponent(runId)}`)
        .then((v) => state.runId === runId && applyView(v))
        .catch(reportError);
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
    const res = await api('/api/runs', {
      method: 'POST',
      auth: true,
      body: { sequence: state.sequence, ...(input === undefined ? {} : { input }) },
    });
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
    await api(`/api/runs/${encodeURIComponent(state.runId)}/cancel`, {
      method: 'POST',
      auth: true,
      body: { reason: 'cancelled from the web page' },
    });
    toast('cancelling: the task in flight stops, then compensations and finally tasks run');
  } catch (error) {
    reportError(error);
  }
}

async function resumeRun() {
  const runId = state.runId;
  if (!runId) return;
  try {
    await api(`/api/runs/${encodeURIComponent(runId)}/resume`, { method: 'POST', auth: true, body: {} });
    toast(`run ${shortId(runId)} resumed: the interrupted attempt runs again`);
    await loadRuns();
    const view = await api(`/api/runs/${encodeURIComponent(runId)}`);
    if (state.runId === runId) applyView(view);
  } catch (error) {
    reportError(error);
  }
}

function closeRerun() {
  $('rerun-panel').hidden = true;
  $('rerun-plan').replaceChildren();
}

function planColumn(title, items, render = (x) => x) {
  return el(
    'div',
    {},
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
    const why = new Map(plan.steps.map((s) => [s.taskId, s.reason]));
    const step = (taskId, text) =>
      el(
        'span',
        { class: 'step', dataset: { task: taskId }, title: why.get(taskId) ?? '' },
        text,
        el('span', { class: 'why' }, ` (${why.get(taskId)})`),
      );
    box.replaceChildren(
      ...(plan.requested
        ? [
            el(
              'p',
              { class: 'note moved', id: 'rerun-moved' },
              `Starts at ${plan.from}, not ${plan.requested}: a task before ${plan.requested} was undone by its compensation in that run, so it runs again.`,
            ),
          ]
        : []),
      planColumn('Reused (not run again)', plan.reused, (r) => step(r.taskId, r.taskId)),
      planColumn('Run again', plan.rerun, (t) => step(t, t)),
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
    if (u.entry.type === 'task.started' && known.status === 'interrupted') known.status = 'running';
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
  $('resume-run').addEventListener('click', resumeRun);
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
