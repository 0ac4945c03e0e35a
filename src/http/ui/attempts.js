// A run's attempts as duration bars on one time axis (backoffs between them), and the pane of one attempt: its
// error with the failure output, and its log lines.
import { api } from './api.js';
import { $, duration, el, time } from './dom.js';

const ENDS = new Set(['task.succeeded', 'task.failed', 'task.stopped', 'task.interrupted']);
const PHASE_LABEL = { main: '', compensate: 'compensation', finally: 'finally' };

/**
 * The attempts of a history, in the order they started: each from its `task.started` to the entry that ended it
 * (`durationMs` when it has one), with the backoff a failed attempt waits before its retry. A reused task has a
 * success with no start: it shows as a zero-length attempt marked reused.
 */
export function attemptsOf(history) {
  const attempts = [];
  const open = new Map();
  for (const e of history) {
    const key = `${e.phase ?? 'main'}|${e.task}|${e.attempt}`;
    if (e.type === 'task.started') {
      const a = { task: e.task, attempt: e.attempt, phase: e.phase ?? 'main', start: e.at, end: null, outcome: 'running' };
      attempts.push(a);
      open.set(key, a);
    } else if (ENDS.has(e.type)) {
      let a = open.get(key);
      if (!a) {
        if (e.type !== 'task.succeeded') continue;
        a = { task: e.task, attempt: e.attempt, phase: e.phase ?? 'main', start: e.at, outcome: 'reused' };
        attempts.push(a);
      }
      open.delete(key);
      a.end = typeof e.durationMs === 'number' ? a.start + e.durationMs : e.at;
      a.entry = e;
      if (a.outcome !== 'reused') a.outcome = e.type.slice('task.'.length);
      if (e.type === 'task.failed' && e.willRetry) a.backoff = { start: e.at, ms: e.retryInMs ?? 0 };
    }
  }
  return attempts;
}

const label = (a) => `${a.task}${PHASE_LABEL[a.phase] ? ` (${PHASE_LABEL[a.phase]})` : ''} #${a.attempt}`;

/**
 * Draws the bars of a run's attempts; `onPick(attempt)` opens one. `now` ends the bars still running; for an
 * interrupted run (`stalled`) they end at its last entry, lost with the process that ran them.
 */
export function renderBars(history, now, onPick, picked, stalled = false) {
  const attempts = attemptsOf(history);
  if (stalled && history.length) {
    now = history[history.length - 1].at;
    for (const a of attempts) if (a.outcome === 'running') a.outcome = 'lost';
  }
  $('bars-empty').hidden = attempts.length > 0;
  $('bars-empty').textContent = history.length ? 'No attempt started yet.' : 'Select a run to see its attempts.';
  if (!attempts.length) return $('bars').replaceChildren();
  const t0 = history[0].at;
  const last = history[history.length - 1];
  const ended = last.type === 'run.succeeded' || last.type === 'run.failed' || last.type === 'run.cancelled';
  const t1 = Math.max(ended ? last.at : now, ...attempts.map((a) => (a.backoff ? a.backoff.start + a.backoff.ms : (a.end ?? now))));
  const span = Math.max(1, t1 - t0);
  const pct = (ms) => `${((ms / span) * 100).toFixed(2)}%`;
  const rows = attempts.map((a) => {
    const end = a.end ?? now;
    const key = `${a.phase}|${a.task}|${a.attempt}`;
    return el(
      'li',
      {
        class: `bar-row${picked === key ? ' selected' : ''}`,
        dataset: { task: a.task, attempt: a.attempt, phase: a.phase, outcome: a.outcome, key },
        title: `${label(a)}: ${a.outcome}, started ${time(a.start)}`,
      },
      el('span', { class: 'bar-label', title: label(a) }, label(a)),
      el(
        'span',
        { class: 'bar-track' },
        el('span', { class: 'bar', dataset: { outcome: a.outcome }, style: `left:${pct(a.start - t0)};width:${pct(end - a.start)}` }),
        a.backoff
          ? el('span', {
              class: 'bar backoff',
              title: `backoff: retry in ${duration(a.backoff.ms)}`,
              style: `left:${pct(a.backoff.start - t0)};width:${pct(a.backoff.ms)}`,
            })
          : null,
      ),
      el(
        'span',
        { class: 'bar-duration' },
        a.outcome === 'reused' ? 'reused' : duration(end - a.start),
        a.backoff ? el('span', { class: 'backoff-text' }, ` +${duration(a.backoff.ms)} backoff`) : null,
      ),
    );
  });
  $('bars').replaceChildren(el('ol', { class: 'bar-list' }, ...rows));
  $('bars').onclick = (ev) => {
    const li = ev.target.closest('li[data-key]');
    if (li) onPick(attempts.find((a) => `${a.phase}|${a.task}|${a.attempt}` === li.dataset.key));
  };
}

function errorBox(entry) {
  const error = entry?.error;
  if (!error) return null;
  return el(
    'div',
    {},
    el('p', { class: 'error-message' }, error.code ? `${error.code}: ` : '', error.message),
    entry.willRetry ? el('p', { class: 'muted' }, `retried after ${duration(entry.retryInMs ?? 0)}`) : null,
    error.output ? el('pre', { class: 'failure-output', 'aria-label': 'failure output' }, error.output) : null,
  );
}

/** The logs of one attempt: `{ attempts: [{ lines: [{ at, stream, text }], truncated }] }`, or none recorded. */
async function loadLog(runId, a) {
  const box = $('attempt-log');
  box.replaceChildren(el('p', { class: 'muted' }, 'Loading the log…'));
  let logs;
  try {
    logs = await api(`/api/runs/${encodeURIComponent(runId)}/logs?task=${encodeURIComponent(a.task)}&attempt=${a.attempt}`);
  } catch (error) {
    if (error.status === 404) return box.replaceChildren(el('p', { class: 'muted no-logs' }, 'no logs recorded'));
    return box.replaceChildren(el('p', { class: 'muted' }, `cannot read the log: ${error.message}`));
  }
  const mine = (logs.attempts ?? []).filter((l) => l.task === a.task && l.attempt === a.attempt && (l.phase ?? 'main') === a.phase);
  const lines = mine.flatMap((l) => l.lines ?? []);
  if (!lines.length) return box.replaceChildren(el('p', { class: 'muted no-logs' }, 'no logs recorded'));
  box.replaceChildren(
    el(
      'pre',
      { class: 'log-lines' },
      ...lines.map((l) => el('span', { class: 'log-line', dataset: { stream: l.stream } }, `${time(l.at)} ${l.text}\n`)),
    ),
    mine.some((l) => l.truncated) ? el('p', { class: 'muted' }, 'the log was truncated') : null,
  );
}

/** Opens the pane of one attempt (or closes it for none). */
export function showAttempt(runId, a) {
  const pane = $('attempt-pane');
  pane.hidden = !a;
  if (!a) return;
  $('attempt-title').textContent = `${label(a)} · ${a.outcome}${a.end ? ` · ${duration(a.end - a.start)}` : ''}`;
  const err = errorBox(a.entry);
  $('attempt-error').hidden = !err;
  $('attempt-error').replaceChildren(...(err ? [err] : []));
  void loadLog(runId, a);
}
