import { randomUUID } from 'node:crypto';
import { KafkaTransport, partitionOf } from '../../adapters/kafka/index.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { assertInput } from '../../core/input-limits.js';
import { topicNames } from '../../core/protocol/envelope.js';
import type { HistoryRecord } from '../../core/protocol/history-record.js';
import { parseHistoryRecord } from '../../core/protocol/history-record.js';
import { assertRunId } from '../../core/protocol/partition-offset.js';
import type { RunState } from '../../core/protocol/run-state.js';
import { ProgramRegistry } from '../../core/run/registry.js';
import type { SignalView } from '../../core/run/signal.js';
import type { Program } from '../../core/step.js';
import { acceptTraceparent } from '../../core/trace/traceparent.js';
import type { AttemptLog, AttemptLogFilter } from '../../ports/attempt-logs.js';
import type { SignalOutcome } from '../../ports/run-service.js';
import { envelope, runStartMessage } from '../../runtime/messages.js';
import type { KafkaModeOptions } from './connection.js';
import { resolveKafka } from './connection.js';
import { DefinitionsTopic } from './definitions-topic.js';
import type { RunHistory } from './history-topic.js';
import { HistoryBuilder } from './history-topic.js';
import { readRunLogs } from './log-topic.js';
import type { WaitOptions } from './run-watch.js';
import { RunWatch } from './run-watch.js';
import { assertSignalable, PUBLISHED, signalMessage, unknownRunError } from './signal-message.js';

/** What to start. */
export interface StartOptions {
  readonly input?: unknown;
  /** @default the latest version the orchestrators know */
  readonly version?: string;
  /** @default a random UUID */
  readonly runId?: string;
  /** A W3C `traceparent`: the run's trace becomes a child of that span (checked before anything is sent). */
  readonly traceparent?: string;
}

/** What a signal carries: the wait's data (its task's result), or a rejection with its reason. */
export type SignalBody = { readonly data?: unknown; readonly reject?: undefined } | { readonly reject: string; readonly data?: undefined };

/** Talks to the orchestrators of a Kafka deployment: starts, inspects and cancels runs. */
export interface LockstepClient {
  /** Publishes a `run.start` and resolves to the run's id. */
  start(sequence: string, options?: StartOptions): Promise<string>;
  /**
   * The run's last committed state, or `undefined` for a run no orchestrator has started (yet). Read through the
   * client's one subscription: its partition of the run-state topic is read again, without a new consumer group.
   */
  status(runId: string): Promise<RunState | undefined>;
  /**
   * Resolves with the run's state once it has ended (`status` is then its outcome). Every wait of a client shares one
   * subscription, opened on first use and closed by {@link close}; a run that ended already is answered from what the
   * client read, or by reading its partition again. Rejects with `WAIT_TIMEOUT` when `timeoutMs` passes or `signal`
   * aborts (the run goes on), and with `TRANSPORT_UNAVAILABLE` when the subscription stops for a reason retrying
   * cannot mend.
   */
  wait(runId: string, options?: WaitOptions): Promise<RunState>;
  /** Waits for every run (through the one subscription); resolves to their final states in the order given. */
  waitAll(runIds: readonly string[], options?: WaitOptions): Promise<RunState[]>;
  /**
   * The run's history records as the orchestrators write them, from its first entry (or the first one the history
   * topic still keeps), each once and in order, ending after its final entry. `break` stops it; `timeoutMs` and
   * `signal` end it with `WAIT_TIMEOUT`.
   */
  watch(runId: string, options?: WaitOptions): AsyncGenerator<HistoryRecord>;
  /**
   * Signals a run's wait task (`wait: { signal: true }`): `{ data }` ends the wait with `data` as the task's result,
   * `{ reject: reason }` fails the task for good (compensations run). Checked first against the run's latest state
   * and its definition (found on the definitions topic): nothing is published when it throws. Then published as a
   * `task.signal` on the events topic, keyed by the run id (schemas/task.signal.json); the orchestrator that owns
   * the run applies it, checking the data again. A signal for a wait that has already ended is published all the
   * same: the run ignores it as a duplicate, and counts it.
   *
   * @returns `{ status: 'recorded', driven: true }` once the signal is on the events topic.
   * @throws LockstepError `UNKNOWN_RUN` (no state of the run on the run-state topic); `INVALID_SIGNAL` (an
   * `InvalidSignalError` whose `problems` name every problem with its path, `data.approver: ...`); `RUN_ENDED`;
   * `NOT_WAITING` when the run has not reached the wait.
   */
  signal(runId: string, taskId: string, body?: SignalBody): Promise<SignalOutcome>;
  /** Asks the run to cancel: the task in flight is cancelled, then compensations and finally tasks run. */
  cancel(runId: string, reason?: string): Promise<void>;
  /**
   * The run's history from the history topic: its entries in order, each once (a record written again by an
   * orchestrator that took the partition over is dropped), with the run's state value after each. `undefined` when the
   * topic holds none of it: the run is unknown, or its history is older than the topic keeps (see
   * {@link historyRetentionMs}).
   */
  history(runId: string): Promise<RunHistory | undefined>;
  /** How long the history topic keeps entries (its `retention.ms`); `undefined` when it keeps them for ever. */
  historyRetentionMs(): Promise<number | undefined>;
  /** The run's attempt logs off the log topic (`<prefix>.logs`), in the order the attempts started. */
  logs(runId: string, filter?: AttemptLogFilter): Promise<AttemptLog[]>;
  close(): Promise<void>;
}

/**
 * Creates a client. Runs are started and cancelled with messages on the events topic; their state is read from the
 * compacted run-state topic, their history from the history topic, in the partition of the run id only.
 */
export function createLockstepClient(options: KafkaModeOptions = {}): LockstepClient {
  const resolved = resolveKafka(options);
  const topics = topicNames(resolved.prefix);
  const transport = new KafkaTransport({ ...resolved, clientId: options.clientId ?? 'lockstep-client' });
  const partitions = new Map<string, Promise<number>>();
  /** The partition of `topic` that holds the run: where the producers' partitioner puts its key. */
  const partitionOfRun = async (topic: string, runId: string) => {
    let count = partitions.get(topic);
    if (!count) {
      count = transport.partitionCounts([topic]).then((c) => {
        const n = c.get(topic);
        if (!n)
          throw new LockstepError(
            ErrorCode.transportUnavailable,
            `topic ${topic} does not exist: create the topics first (lockstep topics create)`,
          );
        return n;
      });
      partitions.set(topic, count);
      // A failure is not kept: the next call asks again.
      count.catch(() => partitions.delete(topic));
    }
    return partitionOf(runId, await count);
  };
  const watch = new RunWatch({
    runsTopic: topics.runs,
    historyTopic: topics.history,
    openFeed: (feed) => transport.openFeed(feed),
    partitionOf: partitionOfRun,
  });
  // Definitions of the runs signalled, found on the definitions topic by the hash their state names.
  const definitions = new DefinitionsTopic(transport, resolved.prefix);
  const programs = new ProgramRegistry();
  const programOf = async (state: RunState): Promise<Program | undefined> => {
    if (state.definitionHash === undefined) return undefined;
    await programs.fetch([state.definitionHash], definitions.lookup);
    return programs.byHash(state.definitionHash)?.program;
  };
  const history = async (runId: string): Promise<RunHistory | undefined> => {
    const records = await transport.readPartitions(topics.history, [await partitionOfRun(topics.history, runId)]);
    const built = new HistoryBuilder(runId);
    for (const r of records) {
      if (r.key !== runId || r.value === null) continue;
      const parsed = parseHistoryRecord(r.value);
      if (parsed.success && parsed.record.runId === runId) built.add(parsed.record);
    }
    return built.entries.length > 0 ? built : undefined;
  };
  return {
    async start(sequence, start = {}) {
      const runId = start.runId ?? randomUUID();
      assertRunId(runId);
      // A run id of this client's own making is new: its records cannot precede what the client follows.
      if (start.runId === undefined) watch.noteStart(runId);
      assertInput(start.input ?? null);
      const traceparent = start.traceparent === undefined ? {} : { traceparent: acceptTraceparent(start.traceparent, 'traceparent') };
      const value = runStartMessage(
        { runId, sequence, ...(start.version ? { version: start.version } : {}), input: start.input ?? null, ...traceparent },
        Date.now(),
      );
      await transport.publish([{ topic: topics.events, key: runId, value }]);
      return runId;
    },
    status: (runId) => watch.status(runId),
    wait: (runId, waitOptions) => watch.wait(runId, waitOptions),
    async waitAll(runIds, waitOptions = {}) {
      // The first failure stops the other waits rather than leaving them to their own deadlines.
      const stop = new AbortController();
      const signal = waitOptions.signal ? AbortSignal.any([waitOptions.signal, stop.signal]) : stop.signal;
      try {
        return await Promise.all(runIds.map((runId) => watch.wait(runId, { ...waitOptions, signal })));
      } finally {
        stop.abort();
      }
    },
    watch: (runId, waitOptions) => watch.watch(runId, waitOptions),
    async signal(runId, taskId, body = {}) {
      // Both kept: a rejection that carries data too is refused with the path, not sent without it.
      const signal = {
        taskId,
        ...(body.data === undefined ? {} : { data: body.data }),
        ...(body.reject === undefined ? {} : { reject: body.reject }),
      };
      const value = signalMessage(runId, signal, Date.now());
      const state = await watch.status(runId);
      if (!state) throw unknownRunError(runId, topics.runs);
      const view = state.snapshot.context as unknown as SignalView;
      assertSignalable({ runId, status: state.status, view, program: await programOf(state) }, signal);
      await transport.publish([{ topic: topics.events, key: runId, value }]);
      return PUBLISHED;
    },
    async cancel(runId, reason = 'cancelled by a client') {
      await transport.publish([
        { topic: topics.events, key: runId, value: envelope({ type: 'run.cancel', runId, payload: { reason } }, Date.now()) },
      ]);
    },
    history,
    async historyRetentionMs() {
      const ms = Number((await transport.topicConfig(topics.history, ['retention.ms'])).get('retention.ms'));
      return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
    },
    logs: (runId, filter) => readRunLogs(transport, resolved.prefix, runId, filter),
    async close() {
      await watch.close();
      await transport.close();
    },
  };
}
