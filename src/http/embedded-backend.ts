import { isFinalEntry } from '../core/protocol/run-entry.js';
import { sha256Hex } from '../core/hash.js';
import { ErrorCode, LockstepError } from '../core/errors.js';
import { topicNames } from '../core/protocol/envelope.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Sequence } from '../core/sequence/types.js';
import { loadSequenceText } from '../core/sequence/validate.js';
import { createProgram } from '../core/step.js';
import type { Program } from '../core/step.js';
import { createEmbeddedRuntime, trackAttemptProcesses } from '../modes/embedded/embedded-runtime.js';
import type { EmbeddedRuntime } from '../modes/embedded/embedded-runtime.js';
import type { RunRecord, RunStore } from '../ports/run-store.js';
import { runStatusView } from '../ports/run-store.js';
import { createLocalExecutor } from '../runtime/local-executor.js';
import type { LocalExecutorOptions } from '../runtime/local-executor.js';
import type { ProgramRegistry } from '../core/run/registry.js';
import { listRuns } from '../runtime/run-listing.js';
import { findSpec } from '../core/run/live-run.js';
import type { DispatchedTask, LazySignalExecutor } from '../runtime/worker.js';
import { LAZY_SIGNAL } from '../runtime/worker.js';
import type { IngestEnvelope, LiveUpdate, RunQuery, ServeBackend, ServedSequence } from './backend.js';
import { RunTracker } from './run-tracker.js';

export interface EmbeddedBackendOptions {
  readonly store: RunStore;
  /** Sequences to serve, with the text and file each was loaded from. */
  readonly sequences: ReadonlyArray<{ readonly sequence: Sequence; readonly definition: string; readonly source?: string }>;
  readonly cwd?: string;
  readonly onOutput?: LocalExecutorOptions['onOutput'];
}

/** Resolves a program by name and version from the registry, else by compiling a run's stored definition. */
export function programResolver(registry: ProgramRegistry): (record: Pick<RunRecord, 'sequence' | 'version'> & Partial<Pick<RunRecord, 'definition' | 'definitionHash'>>) => Program | undefined {
  const compiled = new Map<string, Program | undefined>();
  return (record) => {
    try {
      const registered = registry.resolve(record.sequence, record.version);
      if (!record.definitionHash || registered.hash === record.definitionHash) return registered.program;
    } catch {
      // Not registered at this version: fall back to the stored definition.
    }
    if (record.definition === undefined) return undefined;
    const key = record.definitionHash ?? sha256Hex(record.definition);
    if (!compiled.has(key)) {
      try {
        compiled.set(key, createProgram(loadSequenceText(record.definition)));
      } catch {
        compiled.set(key, undefined);
      }
    }
    return compiled.get(key);
  };
}

/**
 * Tasks on a queue without a local handler belong to remote services that report through the ingest
 * endpoint: their attempt stays in flight here until the run ends or cancels it, and never reports itself.
 */
class RemoteAttempts {
  readonly #byRun = new Map<string, Set<() => void>>();

  wait(runId: string, signal: AbortSignal): Promise<never> {
    return new Promise<never>((_resolve, reject) => {
      const set = this.#byRun.get(runId) ?? new Set();
      this.#byRun.set(runId, set);
      const stop = () => {
        set.delete(stop);
        if (set.size === 0) this.#byRun.delete(runId);
        reject(new Error(`attempt ended: ${String(signal.reason ?? 'run ended')}`));
      };
      set.add(stop);
      signal.addEventListener('abort', stop, { once: true });
    });
  }

  /** Ends the attempts of a run that finished: their late reports are counted, never applied. */
  release(runId: string): void {
    for (const stop of [...(this.#byRun.get(runId) ?? [])]) stop();
  }
}

/** The embedded mode of `lockstep serve`: runs execute in the server's process, over the in-memory transport. */
export async function createEmbeddedBackend(options: EmbeddedBackendOptions): Promise<ServeBackend> {
  const listeners = new Set<(update: LiveUpdate) => void>();
  const remote = new RemoteAttempts();
  let tracker: RunTracker | undefined;
  let runtime: EmbeddedRuntime | undefined;
  let local: LazySignalExecutor | undefined;
  const execute: LazySignalExecutor = Object.assign((task: DispatchedTask, signal: () => AbortSignal) => {
    const { program } = runtime!.registry.resolve(task.payload.sequence, task.payload.version);
    const action = findSpec(program, task.taskId)?.action;
    if (action?.kind === 'queue') return remote.wait(task.runId, signal());
    return local!(task, signal);
  }, { [LAZY_SIGNAL]: true as const });
  const onEntry = (entry: RunEntry) => {
    const update = tracker!.apply(entry);
    for (const listener of listeners) listener(update);
    if (isFinalEntry(entry)) remote.release(entry.runId);
  };
  runtime = await createEmbeddedRuntime({ store: options.store, onEntry, execute, ...(options.cwd ? { cwd: options.cwd } : {}) });
  const registry = runtime.registry;
  // Shell attempts record their process groups, so a resume after this server died stops what they left running.
  local = createLocalExecutor({
    registry, attemptProcesses: trackAttemptProcesses(options.store),
    ...(options.cwd ? { cwd: options.cwd } : {}), ...(options.onOutput ? { onOutput: options.onOutput } : {}),
  });
  for (const s of options.sequences) runtime.register(s.sequence, { definition: s.definition, ...(s.source ? { source: s.source } : {}) });
  const programOf = programResolver(registry);
  tracker = new RunTracker((sequence, version) => programOf({ sequence, version }));
  const events = topicNames().events;
  // A run marked running in the store that this server did not start was left by a process that stopped.
  const driven = (runId: string) => {
    if (!tracker!.tracks(runId)) {
      throw new LockstepError(
        ErrorCode.runLocked,
        `run "${runId}" is not driven by this server: the process that ran it stopped or still runs it; continue it with \`lockstep resume ${runId}\``,
      );
    }
  };
  const rt = runtime;

  return {
    mode: 'embedded',
    sequences(): ServedSequence[] {
      return registry.names().map((name) => {
        const r = registry.resolve(name);
        return { program: r.program, definition: r.definition, hash: r.hash, ...(r.source ? { source: r.source } : {}) };
      });
    },
    programOf,
    listRuns: (query: RunQuery) => listRuns(options.store, { ...query, limit: query.limit ?? 50 }),
    statusOf: (record) => runStatusView(record.status, record.status === 'running' && (tracker!.tracks(record.runId) || options.store.isDriven(record.runId))),
    getRun: (runId) => options.store.get(runId),
    startRun: (request) => rt.start(request),
    async resumeRun(runId) {
      const stored = await options.store.get(runId);
      if (!stored) throw new LockstepError(ErrorCode.unknownRun, `unknown run "${runId}"`);
      const { record, history } = stored;
      if (record.status !== 'running') {
        throw new LockstepError(ErrorCode.runNotResumable, `run "${runId}" already ended (${record.status}); nothing to resume (rerun it instead)`);
      }
      if (tracker!.tracks(runId) || options.store.isDriven(runId)) {
        throw new LockstepError(ErrorCode.runLocked, `run "${runId}" is driven by ${tracker!.tracks(runId) ? 'this server' : 'another live process'}; nothing was changed`);
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
      tracker!.follow(runId, served.program, history);
      try {
        await rt.orchestrator.resume(runId);
      } catch (error) {
        tracker!.forget(runId);
        throw error;
      }
    },
    async cancelRun(runId, reason) {
      driven(runId);
      await rt.orchestrator.cancel(runId, reason);
    },
    async ingest(envelope: IngestEnvelope) {
      driven(envelope.runId);
      await rt.transport.publish([{ topic: events, key: envelope.runId, value: envelope }]);
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
