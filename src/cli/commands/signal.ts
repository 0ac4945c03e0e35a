import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { SqliteRunStore } from '../../adapters/sqlite/sqlite-run-store.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import { isFinalEntry } from '../../core/protocol/run-entry.js';
import { onFailureIn, runFacts } from '../../core/run/run-facts.js';
import type { Signal } from '../../core/run/signal.js';
import { signalRefusal, signalStanding } from '../../core/run/signal.js';
import { loadSequenceText } from '../../core/sequence/validate.js';
import { createProgram } from '../../core/step.js';
import type { SignalOutcome } from '../../ports/run-service.js';
import { resolveRunId } from '../../runtime/run-listing.js';
import type { CliContext } from '../context.js';
import { openStore, storedRun } from '../store.js';

interface SignalOptions {
  data?: string;
  reject?: string;
  json?: boolean;
  store?: string;
}

/** How long `lockstep signal` waits for the process that drives the run to apply the signal. */
const APPLY_WAIT_MS = 3_000;
const LOOK_EVERY_MS = 50;

/**
 * `lockstep signal <runId> <taskId>`: ends a run's wait task with a signal, recorded in the run store. Its data
 * (`--data`) becomes the task's result; a rejection (`--reject`) fails the task for good, so compensations run.
 * Checked first, as the API checks it: a payload with problems (exit 2), an ended run or a wait not reached yet
 * (exit 5) are refused and nothing is recorded. The process that drives the run applies it within a second; when
 * none does, `lockstep resume` applies it.
 */
export function registerSignal(program: Command, cli: CliContext): void {
  program
    .command('signal')
    .description("end a run's wait task: its data becomes the task's result, or a rejection fails it")
    .argument('<runId>', 'id of a recorded run, or a unique prefix of it (see `lockstep runs`)')
    .argument('<taskId>', 'the wait task (wait: { signal: true }) the signal is for')
    .option('--data <json|@file>', "the task's result: inline JSON or @path to a JSON file, checked against the task's schema")
    .option('--reject <reason>', 'reject instead: the task fails for good, and compensations run')
    .option('--json', 'print what became of the signal as one JSON object')
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .action(async (runIdOrPrefix: string, taskId: string, opts: SignalOptions) => {
      const data = opts.data === undefined ? undefined : parseData(opts.data, cli.cwd);
      const signal: Signal = {
        taskId,
        ...(data === undefined ? {} : { data }),
        ...(opts.reject === undefined ? {} : { reject: opts.reject }),
      };
      const store = await openStore(cli, opts.store, { mustExist: true });
      try {
        const runId = await resolveRunId(store, runIdOrPrefix, store.path);
        const { record, history } = await storedRun(store, runId);
        const source = record.source ? `${record.source} (as recorded with run ${runId})` : `run ${runId}`;
        const program = createProgram(loadSequenceText(record.definition, source));
        const facts = runFacts(history, onFailureIn(program));
        const view = { ...facts, completed: [...facts.completed], continued: [...facts.continued] };
        const refusal = signalRefusal(program, { runId, status: record.status, view }, signal);
        if (refusal) throw refusal;
        const duplicate = signalStanding(view, taskId).kind === 'resolved';
        const added = await store.addSignal(runId, signal, Date.now());
        const holder = store.holder(runId);
        const outcome = holder?.alive ? await applied(store, runId, added.id, history.length, signal) : undefined;
        report(cli, opts.json === true, { runId, signal, duplicate, outcome, holder: holder?.alive ? holder : undefined });
      } finally {
        await store.close();
      }
    });
}

/** What the run did with the signal: what the driving process recorded once it took it from the inbox. */
interface Applied {
  readonly outcome: SignalOutcome;
  /** The entries recorded after the signal was applied, up to when it was looked at. */
  readonly after: readonly RunEntry[];
}

/**
 * Waits (up to {@link APPLY_WAIT_MS}) for the driving process to take the signal from the inbox, then reads what
 * the run recorded for it; `undefined` when it is still there.
 */
async function applied(store: SqliteRunStore, runId: string, id: number, seen: number, signal: Signal): Promise<Applied | undefined> {
  const end = Date.now() + APPLY_WAIT_MS;
  while ((await store.pendingSignals([runId])).some((s) => s.id === id)) {
    if (Date.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, LOOK_EVERY_MS));
  }
  const history = (await store.get(runId))?.history ?? [];
  const later = history.slice(seen);
  const at = later.findIndex((e) => answers(e, signal));
  const entry = later[at];
  if (entry?.type === 'event.ignored') return { outcome: { status: 'ignored', reason: entry.reason }, after: later.slice(at + 1) };
  return { outcome: { status: 'applied' }, after: at < 0 ? later : later.slice(at + 1) };
}

/** Whether an entry is what a run recorded for a signal: the wait's end with it, or the signal ignored. */
function answers(entry: RunEntry, signal: Signal): boolean {
  const expected = signal.reject === undefined ? 'TASK_SUCCEEDED' : 'TASK_FAILED';
  if (entry.type === 'event.ignored') return entry.event.type === expected && entry.event.taskId === signal.taskId;
  if (entry.type !== 'task.succeeded' && entry.type !== 'task.failed') return false;
  return entry.task === signal.taskId && entry.phase === 'main' && entry.event?.type === expected;
}

function report(
  cli: CliContext,
  json: boolean,
  r: {
    runId: string;
    signal: Signal;
    duplicate: boolean;
    outcome: Applied | undefined;
    holder: { pid: number; host: string } | undefined;
  },
): void {
  const { runId, signal } = r;
  const outcome: SignalOutcome = r.outcome?.outcome ?? { status: 'recorded', driven: r.holder !== undefined };
  if (json) {
    cli.out(
      JSON.stringify({ runId, taskId: signal.taskId, ...outcome, ...(outcome.status === 'recorded' ? { duplicate: r.duplicate } : {}) }),
    );
    return;
  }
  const what = signal.reject === undefined ? 'signal' : 'rejection';
  if (outcome.status === 'ignored') {
    cli.out(
      `${what} for ${signal.taskId} ignored as a ${outcome.reason}: run ${runId} had already ended that wait (counted; nothing changed)`,
    );
    return;
  }
  if (outcome.status === 'recorded') {
    const later = r.duplicate ? ` (the wait has already ended: the run will ignore it as a duplicate)` : '';
    if (!r.holder) {
      cli.out(`${what} for ${signal.taskId} recorded${later}; no process drives run ${runId}: \`lockstep resume ${runId}\` applies it`);
    } else {
      cli.out(
        `${what} for ${signal.taskId} recorded${later}; the process that drives run ${runId} (pid ${r.holder.pid} on ${r.holder.host}) has not applied it yet`,
      );
    }
    return;
  }
  const by = r.holder ? ` by the process that drives run ${runId} (pid ${r.holder.pid})` : '';
  const ended = signal.reject === undefined ? `${signal.taskId} succeeded` : `${signal.taskId} failed: rejected: ${signal.reject}`;
  cli.out(`${what} applied${by}: ${ended}; ${nextOf(r.outcome?.after ?? [], signal)}`);
}

/** What the run did next, as far as it has been recorded. */
function nextOf(after: readonly RunEntry[], signal: Signal): string {
  const final = after.find(isFinalEntry);
  if (final) return `the run ${final.outcome}`;
  const started = after.find((e) => e.type === 'task.started');
  if (signal.reject !== undefined) {
    return started && started.phase !== 'main' ? `the run unwinds (${started.phase} ${started.task})` : 'the run unwinds';
  }
  return started ? `the run goes on with ${started.task}` : 'the run goes on';
}

/**
 * Reads `--data`: inline JSON, or `@path` to a JSON file.
 *
 * @throws LockstepError `INVALID_USAGE` (exit 2) with the reason.
 */
function parseData(value: string, cwd: string): unknown {
  let text = value;
  let where = '--data';
  if (value.startsWith('@')) {
    where = `--data ${value.slice(1)}`;
    try {
      text = readFileSync(resolve(cwd, value.slice(1)), 'utf8');
    } catch (error) {
      throw new LockstepError(ErrorCode.invalidUsage, `${where}: cannot read it: ${(error as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new LockstepError(ErrorCode.invalidUsage, `${where}: expected JSON, ${(error as Error).message}; nothing was recorded`);
  }
}
