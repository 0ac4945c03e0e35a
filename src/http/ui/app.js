// lockstep's page: the run list across all sequences (search, filters, pages), and one run or sequence at a time:
// its machine graph with the current state, its attempts as bars with their logs, its data and its actions.
// Plain browser JavaScript modules, no dependencies, nothing from other origins.
import { closePanels, initActions, openRerun } from './actions.js';
import { api, reportError, TOKEN_KEY, token } from './api.js';
import { renderBars, showAttempt } from './attempts.js';
import { $, dateTime, duration, el, FINAL, kindLabel, selectTab, shortId, toast } from './dom.js';
import { showGraph as drawGraph, highlight as drawState } from './graph.js';
import { loadDefinition, renderRunData } from './run-data.js';
import { initRuns, loadRuns, markSelected, noteEntry, runDuration, ticking } from './runs.js';
import { renderTimeline as drawTimeline, timelineItem } from './timeline.js';
import { initWait, renderWait } from './wait.js';

const state = {
  sequences: [],
  sequence: null,
  runId: null,
  view: null,
  runStream: null,
  /** The attempt whose pane is open, as `phase|task|attempt`. */
  picked: null,
};

const highlight = () => drawState(state.view);
const showGraph = (url, key) => drawGraph(url, key, () => state.view);

// ---------- views ----------

/** Shows the run list or the detail view, and says so in the address (`#run=…`, `#sequence=…`, or nothing). */
function showView(name) {
  $('runs-view').hidden = name !== 'runs';
  $('detail-view').hidden = name !== 'detail';
  document.body.dataset.view = name;
}

/** Records where the page is as a history entry, so the browser's Back returns to the list or the run before. */
function setHash(params) {
  const next = params ? `#${new URLSearchParams(params)}` : '';
  if (location.hash !== next) history.pushState(null, '', `${location.pathname}${location.search}${next}`);
}

function renderSequences() {
  $('sequence-list').replaceChildren(
    ...state.sequences.map((s) =>
      el(
        'li',
        { class: s.name === state.sequence && !state.runId ? 'selected' : '', dataset: { sequence: s.name } },
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

function renderHeader() {
  const badge = $('run-status');
  const run = state.view?.run;
  const seq = state.sequences.find((s) => s.name === state.sequence);
  $('view-title').textContent = run ? `${run.sequence} · run ${shortId(run.runId)}` : seq ? seq.name : 'Select a sequence';
  $('view-title').title = run?.runId ?? '';
  badge.hidden = !run;
  $('run-when').textContent = run ? `started ${dateTime(run.createdAt)} · ${duration(runDuration(run))}` : '';
  if (run) {
    const kind = run.status === 'running' ? (state.view.state?.kind ?? 'running') : run.status;
    badge.textContent = kindLabel(kind);
    badge.dataset.kind = kind;
  }
  // Starting is offered on a sequence; the run actions on a run.
  for (const id of ['run-input', 'start-run']) $(id).hidden = Boolean(run);
  for (const id of ['cancel-run', 'resume-run', 'rerun-open']) $(id).hidden = !run;
  $('start-run').disabled = !seq;
  $('cancel-run').disabled = run?.status !== 'running' && run?.status !== 'waiting';
  // Interrupted: marked running, but no live process drives it (it died); resuming continues it here.
  $('resume-run').disabled = run?.status !== 'interrupted';
  const inFlight = run?.status === 'running' || run?.status === 'waiting';
  $('rerun-open').disabled = !run || inFlight || run.status === 'interrupted' || !state.view.tasks.length;
  $('rerun-open').title =
    run && inFlight ? 'the run is still running' : run && run.status === 'interrupted' ? 'the run has not ended: resume it' : '';
}

function renderRun() {
  const history = state.view?.history ?? [];
  drawTimeline(history);
  drawBars();
  renderRunData(state.view);
  renderWait(state.view);
  renderHeader();
  highlight();
}

/** Draws the attempt bars of the selected run. */
const drawBars = () =>
  renderBars(state.view?.history ?? [], Date.now(), pickAttempt, state.picked, state.view?.run.status === 'interrupted');

function pickAttempt(a) {
  state.picked = a ? `${a.phase}|${a.task}|${a.attempt}` : null;
  drawBars();
  showAttempt(state.runId, a);
  // A main task of an ended run can be rerun from: the preview opens from that task.
  const run = state.view?.run;
  const rerunnable = a && run && FINAL.has(run.status) && a.phase === 'main' && state.view.tasks.some((t) => t.id === a.task);
  $('attempt-rerun').hidden = !rerunnable;
  $('attempt-rerun').textContent = a ? `Rerun from ${a.task}…` : '';
  $('attempt-rerun').onclick = () => openRerun(a.task);
}

function closeRunStream() {
  state.runStream?.close();
  state.runStream = null;
}

function showRuns() {
  closeRunStream();
  closePanels();
  // The run just left stays marked in the list.
  if (state.runId) markSelected(state.runId);
  state.runId = null;
  state.view = null;
  state.sequence = null;
  setHash(null);
  showView('runs');
  renderSequences();
  loadRuns().catch(reportError);
}

function selectSequence(name) {
  closeRunStream();
  closePanels();
  state.sequence = name;
  state.runId = null;
  state.view = null;
  state.picked = null;
  setHash({ sequence: name });
  showView('detail');
  renderSequences();
  renderRun();
  showAttempt(null, null);
  const seq = state.sequences.find((s) => s.name === name);
  if (!seq) return;
  void showGraph(seq.links.graphSvg, `seq:${seq.name}:${seq.hash}`);
  api(seq.links.self)
    .then((d) => state.sequence === name && !state.runId && ($('tab-definition').textContent = d.definition))
    .catch(reportError);
}

function applyView(view) {
  state.view = view;
  renderRun();
}

async function reload(runId) {
  const view = await api(`/api/runs/${encodeURIComponent(runId)}`);
  if (state.runId === runId) applyView(view);
}

function selectRun(runId) {
  closeRunStream();
  closePanels();
  state.runId = runId;
  state.view = null;
  state.picked = null;
  setHash({ run: runId });
  showView('detail');
  markSelected(runId);
  showAttempt(null, null);
  renderRun();
  void loadDefinition(runId);
  const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
  state.runStream = source;
  source.addEventListener('snapshot', (ev) => {
    if (state.runId !== runId) return;
    const view = JSON.parse(ev.data);
    state.sequence = view.run.sequence;
    renderSequences();
    applyView(view);
    void showGraph(view.links.graphSvg, `run:${view.run.definitionHash}`);
  });
  source.addEventListener('entry', (ev) => {
    if (state.runId !== runId || !state.view) return;
    const u = JSON.parse(ev.data);
    const history = state.view.history;
    if (u.seq >= 0 && u.seq < history.length) return;
    if (u.seq > history.length || u.seq < 0) return void reload(runId).catch(reportError);
    history.push(u.entry);
    $('timeline').append(timelineItem(u.entry, history));
    $('timeline-empty').hidden = true;
    if (u.state) state.view.state = u.state;
    const final = u.entry.type === 'run.succeeded' || u.entry.type === 'run.failed' || u.entry.type === 'run.cancelled';
    // Every task entry changes a task's status (graph.js colours the task view by them): fetch the run's view again.
    if (final || u.entry.type.startsWith('task.')) reload(runId).catch(reportError);
    drawBars();
    renderRunData(state.view);
    renderHeader();
    highlight();
  });
  source.addEventListener('error', () => {
    // An unknown run: the stream answers 404 and closes.
    if (source.readyState === EventSource.CLOSED && state.runId === runId && !state.view) {
      $('view-title').textContent = `unknown run ${runId}`;
    }
  });
}

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
    selectRun(res.runId);
  } catch (error) {
    reportError(error);
  }
}

// ---------- live updates ----------

function connectAll() {
  const source = new EventSource('/api/events');
  const conn = $('connection');
  source.addEventListener('open', () => (conn.dataset.state = 'open'));
  source.addEventListener('error', () => (conn.dataset.state = source.readyState === EventSource.CLOSED ? 'error' : 'connecting'));
  source.addEventListener('entry', (ev) => noteEntry(JSON.parse(ev.data)));
}

// ---------- start ----------

function route() {
  const params = new URLSearchParams(location.hash.slice(1));
  const t = params.get('token');
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    params.delete('token');
    history.replaceState(null, '', `${location.pathname}${location.search}${params.size ? `#${params}` : ''}`);
  }
  const run = params.get('run');
  const sequence = params.get('sequence');
  if (run) {
    if (run !== state.runId) selectRun(run);
  } else if (sequence) {
    if (sequence !== state.sequence || state.runId) selectSequence(sequence);
  } else if (document.body.dataset.view !== 'runs') showRuns();
}

async function main() {
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
  for (const id of ['nav-runs', 'home-link', 'back-to-runs'])
    $(id).addEventListener('click', (ev) => {
      ev.preventDefault();
      showRuns();
    });
  $('start-run').addEventListener('click', startRun);
  $('graph-fit').addEventListener('click', () => {
    const fit = $('graph').classList.toggle('fit');
    $('graph-fit').textContent = fit ? 'Actual size' : 'Fit';
  });
  const tabs = $('run-col');
  tabs.querySelector('.tabs').addEventListener('click', (ev) => {
    const b = ev.target.closest('[data-tab]');
    if (b) selectTab(tabs, b.dataset.tab);
  });
  initActions({ runId: () => state.runId, view: () => state.view, reload, open: selectRun });
  initWait({ view: () => state.view, reload });
  setInterval(() => {
    if (state.view && ticking(state.view.run)) {
      renderHeader();
      drawBars();
    }
  }, 1000);

  try {
    const health = await api('/api/health');
    $('mode').textContent = `${health.mode} mode${health.auth ? '' : ' · read-only (LOCKSTEP_TOKEN is not set)'}`;
    const { sequences } = await api('/api/sequences');
    state.sequences = sequences;
    renderSequences();
    initRuns(sequences, selectRun);
    connectAll();
    window.addEventListener('hashchange', route);
    window.addEventListener('popstate', route);
    route();
    if (state.runId || state.sequence) loadRuns().catch(reportError);
  } catch (error) {
    reportError(error);
  }
}

void main();
