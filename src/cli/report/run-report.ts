// How `lockstep show` prints a run, wherever it was read from (a store, or the Kafka topics).
import type { RunEntry } from '../../core/protocol/run-entry.js';
import { formatDuration } from '../../core/sequence/duration.js';
import type { RunRecord, RunStatusView } from '../../ports/run-store.js';
import { waitingView } from '../../ports/run-store.js';
import { formatTime } from '../commands/runs.js';
import type { CliContext } from '../context.js';
import { stopWords } from './entry-words.js';
import { waitingIn, waitingJson, waitingWords } from './waiting.js';

const PHASE = { main: '', compensate: ' (compensation)', finally: ' (finally)' } as const;

const json = (value: unknown) => JSON.stringify(value);
const indent = (text: string, by: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `${by}${l}`)
    .join('\n');

/** One history entry as a line (or a few) for people. */
export function describeEntry(e: RunEntry): string {
  switch (e.type) {
    case 'run.started':
      return `run started: ${e.sequence} v${e.version}, input ${json(e.input)}${e.rerunOf ? `; rerun of ${e.rerunOf}, reusing ${e.reused?.join(', ') || 'nothing'}` : ''}`;
    case 'task.started':
      return `→ ${e.task}${PHASE[e.phase]} started (attempt ${e.attempt}, key ${e.idempotencyKey})`;
    case 'task.waiting':
      return `… ${e.task}${PHASE[e.phase]} waiting for ${e.for === 'signal' ? 'a signal' : 'its time'}${e.until === undefined ? '' : `${e.for === 'signal' ? ', expires' : ', due'} ${new Date(e.until).toISOString()}`}`;
    case 'task.succeeded':
      return `✔ ${e.task}${PHASE[e.phase]} succeeded in ${formatDuration(e.durationMs)} (attempt ${e.attempt})${e.result === undefined ? '' : `\n    result ${json(e.result)}`}`;
    case 'task.failed': {
      const code = e.error.code ? ` [${e.error.code}]` : '';
      const retry = e.willRetry ? `; retrying in ${formatDuration(e.retryInMs ?? 0)}` : '; no attempts left or not retriable';
      const output = e.error.output ? `\n    output:\n${indent(e.error.output, '      | ')}` : '';
      return `✖ ${e.task}${PHASE[e.phase]} failed in ${formatDuration(e.durationMs)} (attempt ${e.attempt}): ${e.error.message}${code}${retry}${output}`;
    }
    case 'task.interrupted':
      return `↻ ${e.task}${PHASE[e.phase]} attempt ${e.attempt} interrupted (its process died); it runs again as attempt ${e.attempt + 1}`;
    case 'task.stopped':
      return `■ ${e.task}${PHASE[e.phase]} attempt ${e.attempt} ${stopWords(e)} after ${formatDuration(e.durationMs)}`;
    case 'timer.fired':
      return `⏲ timer ${e.timerId} fired`;
    case 'run.cancelling':
      return `■ cancelling: ${e.reason}`;
    case 'run.timed-out':
      return '■ the run timed out';
    case 'event.ignored':
      return `· ignored ${e.reason} event ${e.event.type}${'taskId' in e.event ? ` for ${e.event.taskId}${'attempt' in e.event ? ` attempt ${e.event.attempt}` : ''}` : ''}`;
    case 'run.succeeded':
    case 'run.failed':
    case 'run.cancelled':
      return `${e.outcome === 'succeeded' ? '✔' : '✖'} run ${e.outcome} in ${formatDuration(e.durationMs)}${e.reason ? `: ${e.reason}` : ''}${e.failedTasks.length > 0 ? ` (failed: ${e.failedTasks.join(', ')})` : ''}`;
  }
}

interface TaskRow {
  task: string;
  phase: string;
  attempts: number;
  interrupted: number;
  outcome: string;
  timeMs: number;
}

/** Per task: attempts, interruptions, last outcome and time spent. */
function taskRows(history: readonly RunEntry[]): TaskRow[] {
  const rows = new Map<string, TaskRow>();
  const row = (task: string, phase: string) => {
    let r = rows.get(task);
    if (!r) rows.set(task, (r = { task, phase, attempts: 0, interrupted: 0, outcome: 'started', timeMs: 0 }));
    return r;
  };
  const reused = history[0]?.type === 'run.started' ? (history[0].reused ?? []) : [];
  for (const e of history) {
    if (e.type === 'task.started') {
      const r = row(e.task, e.phase);
      r.attempts = Math.max(r.attempts, e.attempt);
      r.outcome = 'running';
    } else if (e.type === 'task.succeeded' || e.type === 'task.failed') {
      const r = row(e.task, e.phase);
      r.outcome =
        reused.includes(e.task) && e.phase === 'main' && r.attempts === 0
          ? 'reused'
          : e.type === 'task.succeeded'
            ? 'succeeded'
            : e.willRetry
              ? 'retrying'
              : 'failed';
      r.timeMs += e.durationMs;
    } else if (e.type === 'task.interrupted') {
      const r = row(e.task, e.phase);
      r.interrupted++;
      r.outcome = 'interrupted';
    }
  }
  return [...rows.values()];
}

/**
 * Prints a run for people: its record, its history with timings, and a line per task. `definitionFrom` says where
 * its definition is kept when the record names no file.
 */
export function printRun(
  cli: CliContext,
  record: RunRecord,
  history: readonly RunEntry[],
  shown: RunStatusView,
  definitionFrom = '(not from a file)',
): void {
  const waiting = record.status === 'running' ? waitingIn(history) : undefined;
  const view = waitingView(shown, waiting);
  const status =
    view === 'interrupted'
      ? `interrupted (no live process drives it: \`lockstep resume ${record.runId}\` continues it)`
      : view === 'waiting' && waiting
        ? `waiting (${waitingWords(waiting, formatTime).slice('waiting '.length)})`
        : view;
  cli.out(`run ${record.runId} of ${record.sequence} v${record.version}: ${status}`);
  cli.out(`  started     ${formatTime(record.createdAt)}, last event ${formatDuration(record.updatedAt - record.createdAt)} later`);
  cli.out(`  definition  ${record.source ?? definitionFrom}, sha256 ${record.definitionHash || 'unknown'}`);
  cli.out(`  input       ${json(record.input)}`);
  if (record.rerunOf) cli.out(`  rerun of    ${record.rerunOf}`);
  if (waiting && view !== 'waiting') cli.out(`  wait        ${waitingWords(waiting, formatTime)}`);
  if (record.currentTask && record.status !== 'succeeded')
    cli.out(`  ${record.status === 'running' ? 'task       ' : 'failed task'} ${record.currentTask}`);
  if (record.reason) cli.out(`  reason      ${record.reason}`);
  cli.out('');
  cli.out(`history (${history.length} entries)`);
  const start = history[0]?.at ?? record.createdAt;
  for (const e of history) {
    const offset = `+${formatDuration(e.at - start)}`.padEnd(9);
    const [first, ...rest] = describeEntry(e).split('\n');
    cli.out(`  ${offset} ${first}`);
    for (const line of rest) cli.out(`  ${' '.repeat(9)} ${line}`);
  }
  const rows = taskRows(history);
  if (rows.length === 0) return;
  cli.out('');
  cli.out('tasks');
  const width = Math.max(...rows.map((r) => r.task.length + PHASE[r.phase as keyof typeof PHASE].length));
  for (const r of rows) {
    const name = `${r.task}${PHASE[r.phase as keyof typeof PHASE]}`.padEnd(width);
    const interrupted = r.interrupted > 0 ? ` (${r.interrupted} interrupted)` : '';
    cli.out(`  ${name}  ${r.outcome.padEnd(11)}  attempts ${r.attempts}${interrupted}  ${formatDuration(r.timeMs)}`);
  }
}

/** The run and its history as `show --json` prints them: one JSON object, entries without their machine event. */
export function printRunJson(cli: CliContext, record: RunRecord, history: readonly RunEntry[], status: RunStatusView): void {
  const entries = history.map((e) => {
    const { event: _event, ...rest } = e as RunEntry & { event?: unknown };
    return rest;
  });
  const waiting = record.status === 'running' ? waitingIn(history) : undefined;
  const wait = waiting ? { waiting: waitingJson(waiting) } : {};
  cli.out(json({ run: { ...record, status: waitingView(status, waiting), ...wait }, history: entries }));
}
