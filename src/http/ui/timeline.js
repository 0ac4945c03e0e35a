// The run's event timeline, one line per history entry.
import { $, el, shortId, time } from './dom.js';

/** The run whose result a task.succeeded entry reuses, when it is one of a rerun's reused tasks. */
function reusedHere(e, history) {
  const first = history[0];
  if (first?.type !== 'run.started' || !first.rerunOf || !first.reused?.includes(e.task) || e.phase !== 'main') return undefined;
  return e.at === first.at ? first.rerunOf : undefined;
}

function describe(e, history) {
  const phase = e.phase && e.phase !== 'main' ? ` (${e.phase === 'compensate' ? 'compensation' : 'finally'})` : '';
  switch (e.type) {
    case 'run.started':
      return {
        tone: 'start',
        what: `run started: ${e.sequence} v${e.version}`,
        detail: e.rerunOf ? `rerun of ${e.rerunOf}${e.reused?.length ? `, reusing ${e.reused.join(', ')}` : ''}` : '',
      };
    case 'task.started':
      return {
        tone: e.phase === 'compensate' ? 'comp' : e.phase === 'finally' ? 'fin' : 'start',
        what: `${e.task}${phase} started`,
        detail: `attempt ${e.attempt}`,
      };
    case 'task.succeeded': {
      const result = e.result !== undefined ? ` → ${JSON.stringify(e.result)}` : '';
      const reused = reusedHere(e, history);
      return {
        tone: 'ok',
        what: `${e.task}${phase} ${reused ? 'reused' : 'succeeded'}`,
        detail: reused ? `result of run ${shortId(reused)}${result}` : `attempt ${e.attempt}, ${e.durationMs}ms${result}`,
      };
    }
    case 'task.failed':
      return {
        tone: e.willRetry ? 'retry' : 'bad',
        what: `${e.task}${phase} failed`,
        detail: `${e.error.message}${e.willRetry ? ` · retry in ${e.retryInMs}ms` : ''}`,
        output: e.error.output,
      };
    case 'task.interrupted':
      return { tone: 'retry', what: `${e.task}${phase} interrupted`, detail: `attempt ${e.attempt} runs again` };
    case 'task.stopped': {
      const how =
        e.how === 'grace-expired'
          ? 'did not end within its stop grace'
          : e.how === 'interrupted'
            ? 'lost with its process'
            : e.error
              ? `reported: ${e.error.message}`
              : 'reported a success';
      return { tone: '', what: `${e.task}${phase} stopped`, detail: `attempt ${e.attempt} ended after ${e.durationMs}ms · ${how}` };
    }
    case 'timer.fired':
      return { tone: 'retry', what: 'timer fired', detail: e.timerId };
    case 'run.cancelling':
      return { tone: 'bad', what: 'cancelling', detail: e.reason };
    case 'run.timed-out':
      return { tone: 'bad', what: 'run timed out', detail: '' };
    case 'event.ignored':
      return { tone: '', what: `event ignored (${e.reason})`, detail: e.event?.type ?? '' };
    default:
      return {
        tone: e.type === 'run.succeeded' ? 'ok' : 'bad',
        what: e.type.replace('.', ' '),
        detail: `${e.durationMs}ms${e.reason ? ` · ${e.reason}` : ''}${e.failedTasks?.length ? ` · failed: ${e.failedTasks.join(', ')}` : ''}`,
      };
  }
}

/** One line of the timeline. */
export function timelineItem(e, history) {
  const d = describe(e, history);
  return el(
    'li',
    { dataset: { type: e.type, tone: d.tone } },
    el('div', { class: 'when' }, time(e.at)),
    el('div', { class: 'what' }, d.what),
    d.detail ? el('div', { class: 'detail' }, d.detail) : null,
    // A failed shell attempt's output tail, next to its error.
    d.output ? el('pre', { class: 'failure-output' }, d.output) : null,
  );
}

/** Shows a run's whole history. */
export function renderTimeline(history = []) {
  $('timeline').replaceChildren(...history.map((e) => timelineItem(e, history)));
  $('timeline-empty').hidden = history.length > 0;
}
