import { MemoryRunStore } from '../../adapters/memory/memory-run-store.js';
import { MemoryTransport } from '../../adapters/memory/memory-transport.js';
import { processTracer } from '../../adapters/otel/index.js';
import type { OrphanNotice } from '../../adapters/process/orphaned-attempts.js';
import { stopOrphanedAttempts, trackAttemptProcesses } from '../../adapters/process/orphaned-attempts.js';
import type { StateValue } from '../../core/graph/model.js';
import { sha256Hex } from '../../core/hash.js';
import type { FinalEntry, RunEntry } from '../../core/protocol/run-entry.js';
import type { LiveRun } from '../../core/run/live-run.js';
import { ProgramRegistry } from '../../core/run/registry.js';
import { sequenceQueues } from '../../core/sequence/queues.js';
import type { Sequence, TaskHandler } from '../../core/sequence/types.js';
import type { Clock } from '../../ports/clock.js';
import type { SignalOutcome } from '../../ports/run-service.js';
import type { RunRecord, RunStore } from '../../ports/run-store.js';
import type { RunTracer } from '../../ports/run-tracer.js';
import type { Transport } from '../../ports/transport.js';
import { HistoryJournal } from '../../runtime/journals/history-journal.js';
import type { LocalExecutorOptions } from '../../runtime/local-executor.js';
import { createLocalExecutor } from '../../runtime/local-executor.js';
import type { StartRequest } from '../../runtime/orchestrator.js';
import { Orchestrator } from '../../runtime/orchestrator.js';
import { DEFAULT_KILL_GRACE_MS } from '../../runtime/shell-task.js';
import { SIGNAL_POLL_MS, SignalPoller } from '../../runtime/signal-poller.js';
import { systemClock } from '../../runtime/system-clock.js';
import type { Executor, LazySignalExecutor, WorkerHandle } from '../../runtime/worker.js';
import { startWorker } from '../../runtime/worker.js';

/** Options of {@link createEmbeddedRuntime}. */
export interface EmbeddedOptions {
  /** Where runs are recorded. @default an in-memory store */
  readonly store?: RunStore;
  /** @default the system clock */
  readonly clock?: Clock;
  /** Called with every history entry once it is recorded, the run's state value right after it, and its sequence. */
  readonly onEntry?: (entry: RunEntry, state: StateValue, sequence: string) => void;
  readonly onOutput?: LocalExecutorOptions['onOutput'];
  /** Handlers for queue tasks, by queue name. */
  readonly queueHandlers?: Readonly<Record<string, TaskHandler>>;
  readonly cwd?: string;
  /** Replaces the local executor (handlers and shell commands), e.g. to script task outcomes in tests. */
  readonly execute?: Executor | LazySignalExecutor;
  /**
   * Told what a resume found of the process groups a dead process's shell attempts left running (the store
   * records each group while its attempt runs; a resume stops a surviving one before the run goes on).
   */
  readonly onOrphan?: (notice: OrphanNotice) => void;
  /** The cap of each attempt's stored log, in bytes of line text. @default 1 MiB ({@link DEFAULT_LOG_BYTES}) */
  readonly logBytes?: number;
  /**
   * Told when an attempt's log cannot be stored (a full disk): the rest of that log is dropped, and the run goes
   * on. @default a process warning (`process.emitWarning`)
   */
  readonly onLogError?: LocalExecutorOptions['onLogError'];
  /**
   * Where runs' traces go. @default the OTLP exporter the standard `OTEL_*` variables ask for, if any (the
   * OpenTelemetry packages are loaded only then); `false` traces nothing
   */
  readonly tracer?: RunTracer | false;
  /**
   * How often to look for signals other processes added to the store (`lockstep signal` in another terminal) for
   * the runs driven here; `false`: only when asked ({@link EmbeddedRuntime.applySignals}).
   * @default 250 ms for a store other processes open (SQLite); never for the memory store, whose signals come
   * from this process
   */
  readonly signalPollMs?: number | false;
}

/** The local executor's log options of an embedded runtime: logs go to its store. */
export function storeLogs(
  store: RunStore,
  clock: Clock,
  options: Pick<EmbeddedOptions, 'logBytes' | 'onLogError'>,
): Pick<LocalExecutorOptions, 'logs' | 'logBytes' | 'onLogError' | 'clock'> {
  return {
    logs: store,
    clock,
    ...(options.logBytes === undefined ? {} : { logBytes: options.logBytes }),
    onLogError: options.onLogError ?? logErrorWarning,
  };
}

/** The default when an attempt's log cannot be stored. */
export function logErrorWarning(task: { runId: string; taskId: string; attempt: number }, error: unknown): void {
  const why = error instanceof Error ? error.message : String(error);
  process.emitWarning(`the log of run ${task.runId} task "${task.taskId}" attempt ${task.attempt} is incomplete: ${why}`);
}

/** An orchestrator and its workers in one process, over the in-memory transport. */
export interface EmbeddedRuntime {
  readonly registry: ProgramRegistry;
  readonly orchestrator: Orchestrator;
  readonly store: RunStore;
  /** The in-process transport, for tools that inject messages the way a remote service would. */
  readonly transport: Transport;
  /** Registers a sequence (from a file or the builder) so runs can start. `hash` is the sha256 of `definition`, if known. */
  register(sequence: Sequence, meta?: { definition?: string; hash?: string; source?: string }): void;
  /** Starts a run and resolves to its id. */
  start(request: StartRequest): Promise<string>;
  /** Starts a run and resolves with its final entry. */
  run(request: StartRequest): Promise<FinalEntry>;
  /**
   * Takes on a run copied from another runtime (`orchestrator.liveRun`), with its record and history: it goes on
   * from where the copy stands. For tools that branch a run, such as `lockstep test`.
   */
  adopt(run: LiveRun, record: RunRecord, history: readonly RunEntry[]): Promise<void>;
  /** Continues a run whose process died (`Orchestrator.resume`), then applies the signals that wait for it. */
  resume(runId: string): Promise<void>;
  /**
   * Applies the signals in the store for the runs driven here, now. With the id of one just added, resolves with
   * what it did, or `undefined` when it was not applied here (its run is not driven by this process).
   */
  applySignals(id?: number): Promise<SignalOutcome | undefined>;
  close(): Promise<void>;
}

/** Serialises a sequence for the store; handlers cannot be serialised and are named instead. */
export function definitionText(sequence: Sequence): string {
  return JSON.stringify(
    sequence,
    (_key, value: unknown) => (typeof value === 'function' ? `<handler ${value.name || 'anonymous'}>` : value),
    2,
  );
}

/**
 * Creates the embedded runtime: lockstep's default mode, with no broker. The same orchestrator and worker code
 * as Kafka mode runs over an in-process transport.
 */
export async function createEmbeddedRuntime(options: EmbeddedOptions = {}): Promise<EmbeddedRuntime> {
  // A member of the in-process transport that fails for good (the store cannot record a batch) ends the runtime:
  // waiters are rejected with the error instead of waiting for ever.
  const transport = new MemoryTransport({ onError: (error) => orchestrator.fail(error) });
  const store = options.store ?? new MemoryRunStore();
  const clock = options.clock ?? systemClock;
  const registry = new ProgramRegistry();
  const onOrphan = options.onOrphan;
  const stopOrphans = (runId: string) =>
    stopOrphanedAttempts(store, runId, { graceMs: DEFAULT_KILL_GRACE_MS, ...(onOrphan ? { onNotice: onOrphan } : {}) });
  const journal = new HistoryJournal({ store, transport });
  const tracer = options.tracer === undefined ? await processTracer() : options.tracer || undefined;
  const orchestrator: Orchestrator = new Orchestrator({
    transport,
    journal,
    clock,
    registry,
    stopOrphans,
    ...(options.onEntry ? { onEntry: options.onEntry } : {}),
    ...(tracer ? { tracer } : {}),
  });
  await orchestrator.start();
  const signals = new SignalPoller({
    inbox: store,
    clock,
    driven: () => orchestrator.drivenRuns(),
    apply: (runId, signal) => orchestrator.signal(runId, signal),
    intervalMs: options.signalPollMs ?? (store.sharedInbox ? SIGNAL_POLL_MS : false),
    onError: (error) => {
      // A store that cannot record ends the orchestrator, which says so; a failed read is tried again.
      if (orchestrator.failed) return;
      process.emitWarning(`signals for runs driven here could not be read: ${(error as Error).message}; trying again`);
    },
    onRefused: (runId, error) => process.emitWarning(`a signal for run ${runId} was dropped: ${error.message}`),
  });
  const execute =
    options.execute ??
    createLocalExecutor({
      registry,
      ...(options.queueHandlers ? { queueHandlers: options.queueHandlers } : {}),
      ...(options.onOutput ? { onOutput: options.onOutput } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      attemptProcesses: trackAttemptProcesses(store),
      // Embedded: an orphan is left to `resume`, which stops it before the task runs again.
      lifeline: false,
      ...storeLogs(store, clock, options),
    });
  const workers = new Map<string, WorkerHandle>();
  const ensureWorkers = async (sequence: Sequence) => {
    for (const queue of sequenceQueues([sequence])) {
      if (!workers.has(queue)) workers.set(queue, await startWorker({ transport, queue, clock, execute }));
    }
  };
  const pendingWorkers: Promise<void>[] = [];
  const start = async (request: StartRequest) => {
    await Promise.all(pendingWorkers);
    return orchestrator.startRun(request);
  };
  return {
    registry,
    orchestrator,
    store,
    transport,
    register(sequence, meta = {}) {
      const definition = meta.definition ?? definitionText(sequence);
      const hash = meta.definition !== undefined && meta.hash !== undefined ? meta.hash : sha256Hex(definition);
      registry.register(sequence, { definition, hash, ...(meta.source ? { source: meta.source } : {}) });
      pendingWorkers.push(ensureWorkers(sequence));
    },
    start,
    async run(request) {
      const runId = await start(request);
      return orchestrator.waitFor(runId);
    },
    async adopt(run, record, history) {
      await Promise.all(pendingWorkers);
      await store.create(record, history);
      await orchestrator.adopt(run);
    },
    async resume(runId) {
      await Promise.all(pendingWorkers);
      await orchestrator.resume(runId);
      void signals.poke();
    },
    applySignals: (id) => signals.poke(id),
    async close() {
      await signals.close();
      await orchestrator.close();
      for (const w of workers.values()) await w.close({ cancelInFlight: true });
      await transport.close();
      await tracer?.close();
      await store.close();
    },
  };
}
