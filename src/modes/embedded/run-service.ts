import { trackAttemptProcesses } from '../../adapters/process/orphaned-attempts.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { StateValue } from '../../core/graph/model.js';
import { topicNames } from '../../core/protocol/envelope.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import { isFinalEntry } from '../../core/protocol/run-entry.js';
import { findSpec, replay } from '../../core/run/live-run.js';
import { programResolver } from '../../core/run/program-resolver.js';
import type { OnFailureOf, RunFacts } from '../../core/run/run-facts.js';
import { NO_FACTS, nextFacts, onFailureIn, runFacts } from '../../core/run/run-facts.js';
import { signalRefusal } from '../../core/run/signal.js';
import { stateView } from '../../core/run/state-view.js';
import type { Sequence } from '../../core/sequence/types.js';
import { loadSequenceText } from '../../core/sequence/validate.js';
import type { Program } from '../../core/step.js';
import { createProgram } from '../../core/step.js';
import type { RunMetrics } from '../../ports/metrics.js';
import type { EntryUpdate, RunDetail, RunService, SignalOutcome, TaskReport } from '../../ports/run-service.js';
import { offeredSequences } from '../../ports/run-service.js';
import type { RunStore, StoredRun } from '../../ports/run-store.js';
import { runStatusView } from '../../ports/run-store.js';
import type { LocalExecutorOptions } from '../../runtime/local-executor.js';
import { createLocalExecutor } from '../../runtime/local-executor.js';
import { listRuns } from '../../runtime/run-listing.js';
import { systemClock } from '../../runtime/system-clock.js';
import type { DispatchedTask, LazySignalExecutor } from '../../runtime/worker.js';
import { LAZY_SIGNAL } from '../../runtime/worker.js';
import type { EmbeddedRuntime } from './embedded-runtime.js';
import { createEmbeddedRuntime, storeLogs } from './embedded-runtime.js';
import { RemoteAttempts } from './remote-attempts.js';

/** Options of {@link createEmbeddedRunService}. */
export interface EmbeddedRunServiceOptions {
  readonly store: RunStore;
  /** Sequences to offer, with the text and file each was loaded from. */
  readonly sequences: ReadonlyArray<{ readonly sequence: Sequence; readonly definition: string; readonly source?: string }>;
  readonly cwd?: string;
  readonly onOutput?: LocalExecutorOptions['onOutput'];
  /** The cap of each attempt's stored log, in bytes of line text. @default 1 MiB */
  readonly logBytes?: number;
  /** Counts this process's runs: every entry the orchestrator records, its ignored events and runs in flight. */
  readonly metrics?: RunMetrics;
}

/** A run this process drives: what its entries so far say, for the live updates of the next ones. */
interface Driven {
  facts: RunFacts;
  seq: number;
  readonly onFailureOf: OnFailureOf;
}

/**
 * The embedded mode's runs, for `lockstep serve`: they execute in this process over the in-memory transport and
 * are recorded in `store`. Live updates carry the state the orchestrator reports with each entry; a stored run's
 * state is the one its store kept with its last entry.
 */
export async function createEmbeddedRunService(options: EmbeddedRunServiceOptions): Promise<RunService> {
  const { store } = options;
  const listeners = new Set<(update: EntryUpdate) => void>();
  const remote = new RemoteAttempts();
  const driven = new Map<string, Driven>();
  let runtime: EmbeddedRuntime | undefined;
  let local: LazySignalExecutor | undefined;
  const execute: LazySignalExecutor = Object.assign(
    (task: DispatchedTask, signal: () => AbortSignal) => {
      const { program } = runtime!.registry.resolve(task.payload.sequence, task.payload.version);
      if (findSpec(program, task.taskId)?.action.kind === 'queue') return remote.wait(task.runId, signal());
      return local!(task, signal);
    },
    { [LAZY_SIGNAL]: true as const },
  );

  const follow = (entry: RunEntry, state: StateValue): EntryUpdate => {
    if (entry.type === 'run.started') {
      driven.set(entry.runId, {
        facts: NO_FACTS,
        seq: -1,
        onFailureOf: onFailureIn(programOf({ sequence: entry.sequence, version: entry.version })),
      });
    }
    const run = driven.get(entry.runId);
    if (!run) return { entry, seq: -1 };
    run.seq++;
    run.facts = nextFacts(run.facts, entry, run.onFailureOf);
    if (isFinalEntry(entry)) driven.delete(entry.runId);
    return { entry, seq: run.seq, state: stateView(state, run.facts) };
  };
  const onEntry = (entry: RunEntry, state: StateValue, sequence: string) => {
    options.metrics?.observe(entry, sequence);
    const update = follow(entry, state);
    for (const listener of listeners) listener(update);
    if (isFinalEntry(entry)) remote.release(entry.runId);
  };

  runtime = await createEmbeddedRuntime({ store, onEntry, execute, ...(options.cwd ? { cwd: options.cwd } : {}) });
  const rt = runtime;
  options.metrics?.watch(rt.orchestrator);
  const registry = rt.registry;
  // Shell attempts record their process groups, so a resume after this process died stops what they left running.
  local = createLocalExecutor({
    registry,
    attemptProcesses: trackAttemptProcesses(store),
    // Embedded: an orphan is left to `resume`, which stops it before the task runs again.
    lifeline: false,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.onOutput ? { onOutput: options.onOutput } : {}),
    ...storeLogs(store, systemClock, options),
  });
  for (const s of options.sequences) rt.register(s.sequence, { definition: s.definition, ...(s.source ? { source: s.source } : {}) });
  const programOf = programResolver(registry);
  const events = topicNames().events;
  const drivenHere = (runId: string) => driven.has(runId);
  // A run marked running in the store that this process did not start was left by a process that stopped.
  const mustDrive = (runId: string) => {
    if (drivenHere(runId)) return;
    throw new LockstepError(
      ErrorCode.runLocked,
      `run "${runId}" is not driven by this server: the process that ran it stopped or still runs it; continue it with \`lockstep resume ${runId}\``,
    );
  };
  const lastState = replayOnce();

  return {
    mode: 'embedded',
    sequences: () => offeredSequences(registry),
    programOf,
    listRuns: (query) => listRuns(store, { ...query, limit: query.limit ?? 50 }),
    statusOf: (record) =>
      runStatusView(record.status, record.status === 'running' && (drivenHere(record.runId) || store.isDriven(record.runId))),
    async getRun(runId): Promise<RunDetail | undefined> {
      const stored = await store.get(runId);
      if (!stored) return undefined;
      const program = programOf(stored.record);
      const { record, history } = stored;
      const value = stored.states?.[history.length - 1] ?? lastState(stored, program);
      return { record, history, ...(value === undefined ? {} : { position: { value, facts: runFacts(history, onFailureIn(program)) } }) };
    },
    async runLogs(runId, filter) {
      if (!(await store.get(runId))) return undefined;
      return store.attemptLogs(runId, filter);
    },
    startRun: (request) => rt.start(request),
    async resumeRun(runId) {
      const stored = await store.get(runId);
      if (!stored) throw new LockstepError(ErrorCode.unknownRun, `unknown run "${runId}"`);
      const { record, history } = stored;
      if (record.status !== 'running') {
        throw new LockstepError(
          ErrorCode.runNotResumable,
          `run "${runId}" already ended (${record.status}); nothing to resume (rerun it instead)`,
        );
      }
      if (drivenHere(runId) || store.isDriven(runId)) {
        throw new LockstepError(
          ErrorCode.runLocked,
          `run "${runId}" is driven by ${drivenHere(runId) ? 'this server' : 'another live process'}; nothing was changed`,
        );
      }
      // The run replays under the definition it started with: only a served sequence with that exact text will do.
      let served;
      try {
        served = registry.resolve(record.sequence, record.version);
      } catch {
        served = undefined;
      }
      if (!served || served.hash !== record.definitionHash) {
        throw new LockstepError(
          ErrorCode.runNotResumable,
          `run "${runId}" started with a definition of ${record.sequence} v${record.version} (sha256 ${record.definitionHash.slice(0, 12)}) that this server does not serve; resume it with \`lockstep resume ${runId}\``,
        );
      }
      const onFailureOf = onFailureIn(served.program);
      driven.set(runId, { facts: runFacts(history, onFailureOf), seq: history.length - 1, onFailureOf });
      try {
        await rt.resume(runId);
      } catch (error) {
        driven.delete(runId);
        throw error;
      }
    },
    async signalRun(runId, signal): Promise<SignalOutcome> {
      const stored = await store.get(runId);
      if (!stored) throw new LockstepError(ErrorCode.unknownRun, `unknown run "${runId}"`);
      const { record, history } = stored;
      const program = programOf(record) ?? recordedProgram(record.definition, runId);
      const facts = runFacts(history, onFailureIn(program));
      const view = { ...facts, completed: [...facts.completed], continued: [...facts.continued] };
      const refusal = signalRefusal(program, { runId, status: record.status, view }, signal);
      if (refusal) throw refusal;
      const added = await store.addSignal(runId, signal, Date.now());
      if (rt.orchestrator.drives(runId)) {
        const outcome = await rt.applySignals(added.id);
        if (outcome) return outcome;
      }
      // Another process drives it (and picks it up within a second), or none does: `lockstep resume` applies it.
      return { status: 'recorded', driven: drivenHere(runId) || store.isDriven(runId) };
    },
    async cancelRun(runId, reason) {
      mustDrive(runId);
      await rt.orchestrator.cancel(runId, reason);
    },
    async reportTask(report: TaskReport) {
      mustDrive(report.runId);
      await rt.transport.publish([{ topic: events, key: report.runId, value: report }]);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    whenFailed: () => rt.orchestrator.whenFailed(),
    async close() {
      listeners.clear();
      await rt.close();
    },
  };
}

/**
 * The program of a run's recorded definition, for a run of a sequence this process does not serve.
 *
 * @throws LockstepError `RUN_NOT_RESUMABLE` when the recorded definition cannot be compiled here.
 */
function recordedProgram(definition: string, runId: string): Program {
  try {
    return createProgram(loadSequenceText(definition, `run ${runId}`));
  } catch (error) {
    throw new LockstepError(
      ErrorCode.runNotResumable,
      `run "${runId}" started with a definition this lockstep cannot compile (${(error as Error).message}); nothing was recorded`,
    );
  }
}

/**
 * The state after the last entry of a run recorded before stores kept states: a single replay of that old run on
 * its program, kept while its history stays as long. Runs recorded since carry their states and never come here.
 */
function replayOnce(): (stored: StoredRun, program: Program | undefined) => StateValue | undefined {
  const replayed = new Map<string, { readonly length: number; readonly value: StateValue | undefined }>();
  return (stored, program) => {
    const { runId } = stored.record;
    const cached = replayed.get(runId);
    if (cached?.length === stored.history.length) return cached.value;
    let value: StateValue | undefined;
    if (program && stored.history[0]?.type === 'run.started') {
      try {
        value = replay(program, stored.history).snapshot.value as StateValue;
      } catch {
        value = undefined;
      }
    }
    replayed.set(runId, { length: stored.history.length, value });
    return value;
  };
}
