// The wait a run is in: "waiting for approve since T, expires T+48h", and for a signal wait Approve (with JSON data
// checked against the task's schema here first; the server has the last word and its problems show by the field)
// and Reject (with a reason). Both carry the saved bearer token.
import { api, reportError } from './api.js';
import { $, dateTime, el, shortId, toast } from './dom.js';
import { schemaProblems } from './json-schema.js';

let ctx;
/** The wait whose form is shown (`runId|task|since`): what the operator typed stays while the view refreshes. */
let shownFor = null;

/** A wait for people: `waiting for approve since T, expires T'`, `due T'` for a delay, or `no expiry`. */
export function waitingText(w) {
  const end = w.until === undefined ? 'no expiry' : `${w.for === 'time' ? 'due' : 'expires'} ${dateTime(w.until)}`;
  return `waiting for ${w.task} since ${dateTime(w.since)}, ${end}`;
}

/** `context`: `{ view(), reload(runId) }`, the page's view of the selected run. */
export function initWait(context) {
  ctx = context;
  $('signal-approve').addEventListener('click', approve);
  $('signal-reject').addEventListener('click', reject);
  $('signal-data').addEventListener('input', () => {
    const w = ctx.view()?.waiting;
    if (w) showProblems(localProblems(w).filter((p) => p.path !== 'data' || $('signal-data').value.trim() !== ''));
  });
}

function showProblems(problems, where = 'signal-problems') {
  for (const id of ['signal-problems', 'reject-problems']) {
    const list = $(id);
    const mine = id === where ? problems : [];
    list.replaceChildren(...mine.map((p) => el('li', { dataset: { path: p.path } }, `${p.path}: ${p.message}`)));
    list.hidden = mine.length === 0;
  }
  $('signal-data').setAttribute('aria-invalid', String(where === 'signal-problems' && problems.length > 0));
  $('signal-reason').setAttribute('aria-invalid', String(where === 'reject-problems' && problems.length > 0));
}

/** The data typed in the field: `{ data }` (no data when empty), or `{ problems }` when it is not JSON. */
function typedData() {
  const text = $('signal-data').value.trim();
  if (!text) return { data: undefined };
  try {
    return { data: JSON.parse(text) };
  } catch (error) {
    return { problems: [{ path: 'data', message: `not JSON: ${error.message}` }] };
  }
}

/** What the page can tell is wrong with the typed data: not JSON, or not matching the task's schema. */
function localProblems(w) {
  const typed = typedData();
  if (typed.problems) return typed.problems;
  return w.schema ? schemaProblems(w.schema, typed.data) : [];
}

/** Shows the wait of the selected run, and its signal form when it waits for a signal. */
export function renderWait(view) {
  const panel = $('wait-panel');
  const w = view?.waiting;
  const status = view?.run.status;
  if (!w || (status !== 'waiting' && status !== 'interrupted')) {
    panel.hidden = true;
    shownFor = null;
    return;
  }
  panel.hidden = false;
  panel.dataset.for = w.for;
  const interrupted = status === 'interrupted' ? ': its process died, so a signal takes effect once the run is resumed' : '';
  $('wait-text').textContent = `${waitingText(w)}${interrupted}`;
  $('signal-form').hidden = w.for !== 'signal';
  const key = `${view.run.runId}|${w.task}|${w.since}`;
  if (key === shownFor) return;
  shownFor = key;
  $('signal-data').value = '';
  $('signal-reason').value = '';
  $('signal-data').placeholder = w.schema ? `data (JSON) matching the schema below, e.g. ${example(w.schema)}` : 'data (JSON), optional';
  $('signal-schema').hidden = !w.schema;
  $('signal-schema-text').textContent = w.schema ? JSON.stringify(w.schema, null, 2) : '';
  showProblems([]);
}

/** A sample object naming a schema's required keys, for the field's placeholder. */
function example(schema) {
  if (schema.type !== 'object' || !Array.isArray(schema.required)) return '{}';
  return JSON.stringify(Object.fromEntries(schema.required.map((k) => [k, '…'])));
}

async function send(body, where) {
  const view = ctx.view();
  const w = view?.waiting;
  if (!w) return;
  const runId = view.run.runId;
  try {
    const res = await api(`/api/runs/${encodeURIComponent(runId)}/tasks/${encodeURIComponent(w.task)}/signal`, {
      method: 'POST',
      auth: true,
      body,
    });
    const verb = body.reject === undefined ? 'approved' : 'rejected';
    const how =
      res.status === 'applied'
        ? body.reject === undefined
          ? 'the run goes on'
          : 'the task fails for good'
        : res.status === 'ignored'
          ? `ignored: ${res.reason}`
          : res.driven
            ? 'recorded for the process that drives the run'
            : 'recorded: it takes effect once the run is resumed';
    toast(`${w.task} of run ${shortId(runId)} ${verb}: ${how}`);
    showProblems([]);
    await ctx.reload(runId);
  } catch (error) {
    // The server's problems, each with its path, show by the field they are about.
    if (error.problems?.length) showProblems(error.problems, where);
    else reportError(error);
  }
}

function approve() {
  const w = ctx.view()?.waiting;
  if (!w) return;
  const problems = localProblems(w);
  if (problems.length) return showProblems(problems);
  const { data } = typedData();
  void send(data === undefined ? {} : { data }, 'signal-problems');
}

function reject() {
  const reason = $('signal-reason').value.trim();
  if (!reason) return showProblems([{ path: 'reject', message: 'a rejection needs a reason' }], 'reject-problems');
  void send({ reject: reason }, 'reject-problems');
}
