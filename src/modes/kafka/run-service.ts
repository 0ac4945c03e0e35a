import { randomUUID } from 'node:crypto';
import { KafkaTransport } from '../../adapters/kafka/index.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import type { Envelope } from '../../core/protocol/envelope.js';
import { topicNames } from '../../core/protocol/envelope.js';
import { parseHistoryRecord } from '../../core/protocol/history-record.js';
import { isReservedKey } from '../../core/protocol/partition-offset.js';
import type { RunState } from '../../core/protocol/run-state.js';
import { parseRunState } from '../../core/protocol/run-state.js';
import { programResolver } from '../../core/run/program-resolver.js';
import { ProgramRegistry } from '../../core/run/registry.js';
import type { OnFailureOf, RunFacts } from '../../core/run/run-facts.js';
import { NO_FACTS, nextFacts, onFailureIn } from '../../core/run/run-facts.js';
import type { StartRequest } from '../../core/run/start-request.js';
import { stateView } from '../../core/run/state-view.js';
import type { Sequence } from '../../core/sequence/types.js';
import { acceptTraceparent } from '../../core/trace/traceparent.js';
import type { RunMetrics } from '../../ports/metrics.js';
import type { EntryUpdate, RunDetail, RunPosition, RunService } from '../../ports/run-service.js';
import { offeredSequences } from '../../ports/run-service.js';
import type { RunRecord, RunStatusView } from '../../ports/run-store.js';
import { newestFirst, recordMatches, waitingView } from '../../ports/run-store.js';
import type { StoredMessage } from '../../ports/transport.js';
import { envelope, runStartMessage } from '../../runtime/messages.js';
import { systemClock } from '../../runtime/system-clock.js';
import type { KafkaModeOptions } from './connection.js';
import { resolveKafka } from './connection.js';
import { factsOfState, HistoryBuilder, runRecordOf } from './history-topic.js';
import { readRunLogs } from './log-topic.js';
import { assertSignalable, PUBLISHED, signalMessage, unknownRunError } from './signal-message.js';

/** Options of {@link createKafkaRunService}. */
export interface KafkaRunServiceOptions extends KafkaModeOptions {
  /** Sequences that can be started and drawn; the orchestrators must know them too. */
  readonly sequences: ReadonlyArray<{ readonly sequence: Sequence; readonly definition: string; readonly source?: string }>;
  /** How long to wait before following a topic again that does not exist yet or failed. @default 1000 */
  readonly retryMs?: number;
  readonly onLog?: (line: string) => void;
  /**
   * Counts what the orchestrators record from now on (history entries written after this process started
   * following), the runs in flight on the run-state topic, and the lag of the group `<prefix>-orchestrators`.
   */
  readonly metrics?: RunMetrics;
}

/** A run's history as read so far, and what it says the run has done (while the history is whole). */
interface Followed {
  readonly history: HistoryBuilder;
  facts: RunFacts | undefined;
  readonly onFailureOf: OnFailureOf;
}

/**
 * The Kafka mode's runs, for `lockstep serve`: separate orchestrators drive them. This process follows the
 * history topic (every entry, with the state the orchestrator wrote with it) and the compacted run-state topic
 * (each run's latest record) from their beginning, and publishes starts, cancels and remote task reports to the
 * events topic.
 */
export async function createKafkaRunService(options: KafkaRunServiceOptions): Promise<RunService> {
  const resolved = resolveKafka(options);
  const topics = topicNames(resolved.prefix);
  const transport = new KafkaTransport({
    ...resolved,
    clientId: options.clientId ?? 'lockstep-serve',
    logLevel: options.logLevel ?? 'nothing',
  });
  // Fails early, with the brokers named, when Kafka cannot be reached.
  await transport.partitionCounts([topics.runs]).catch(async (error: unknown) => {
    await transport.close();
    throw error;
  });
  const registry = new ProgramRegistry();
  for (const s of options.sequences)
    registry.register(s.sequence, { definition: s.definition, hash: sha256Hex(s.definition), ...(s.source ? { source: s.source } : {}) });
  const programOf = programResolver(registry);
  const states = new Map<string, RunState>();
  const histories = new Map<string, Followed>();
  const listeners = new Set<(update: EntryUpdate) => void>();
  const stop = new AbortController();
  const log = options.onLog ?? (() => {});
  const skip = (topic: string, m: StoredMessage, why: string) =>
    log(`lockstep serve: skipping a record of ${topic} at ${m.partition}/${m.offset}: ${why}`);

  const onState = (m: StoredMessage) => {
    // lockstep's own records (a partition's offset) are not runs; a tombstone deletes the state of an expired run.
    if (isReservedKey(m.key)) return;
    if (m.value === null) {
      if (m.key !== null) states.delete(m.key);
      return;
    }
    const parsed = parseRunState(m.value);
    if (!parsed.success) return skip(topics.runs, m, parsed.reason);
    const known = states.get(parsed.state.runId);
    if (!known || parsed.state.updatedAt >= known.updatedAt) states.set(parsed.state.runId, parsed.state);
  };

  // The history topic is read from its beginning; only entries written since this process started count as news.
  const liveFrom = new Map<number, bigint>();
  const onHistory = (m: StoredMessage) => {
    if (m.value === null) return;
    const parsed = parseHistoryRecord(m.value);
    if (!parsed.success) return skip(topics.history, m, parsed.reason);
    const { record } = parsed;
    let run = histories.get(record.runId);
    if (!run) {
      const started = record.entry.type === 'run.started' ? record.entry : undefined;
      const known = states.get(record.runId);
      const key = started ?? known;
      const program =
        key &&
        programOf({
          sequence: key.sequence,
          version: key.version,
          ...(known?.definitionHash ? { definitionHash: known.definitionHash } : {}),
        });
      run = {
        history: new HistoryBuilder(record.runId),
        facts: record.seq === 0 ? NO_FACTS : undefined,
        onFailureOf: onFailureIn(program),
      };
      histories.set(record.runId, run);
    }
    const added = run.history.add(record);
    if (added === 'duplicate') return;
    if (added === 'gap') {
      log(
        `lockstep serve: ${topics.history} at ${m.partition}/${m.offset}: entries of run ${record.runId} before #${record.seq} are missing; its state is read from ${topics.runs}`,
      );
      run.facts = undefined;
    }
    if (run.facts) run.facts = nextFacts(run.facts, record.entry, run.onFailureOf);
    const from = liveFrom.get(m.partition);
    if (options.metrics && from !== undefined && BigInt(m.offset) >= from)
      options.metrics.observe(record.entry, states.get(record.runId)?.sequence);
    const update: EntryUpdate = {
      entry: record.entry,
      seq: run.history.entries.length - 1,
      ...(run.facts ? { state: stateView(record.state, run.facts) } : {}),
    };
    for (const listener of listeners) listener(update);
  };

  // One feed reads both topics from their beginning, then follows them; a feed that stops for good is opened again.
  const follow = async () => {
    while (!stop.signal.aborted) {
      try {
        const counts = await transport.partitionCounts([topics.runs, topics.history]);
        for (const topic of [topics.runs, topics.history])
          if (!counts.get(topic)) throw new Error(`topic ${topic} does not exist yet (start an orchestrator)`);
        for (const [p, end] of await transport.endOffsets(topics.history)) if (!liveFrom.has(p)) liveFrom.set(p, end.high);
        let failed!: (error: Error) => void;
        const stopped = new Promise<void>((resolve, reject) => {
          failed = reject;
          if (stop.signal.aborted) resolve();
          else stop.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        const feed = await transport.openFeed({
          topics: [topics.runs, topics.history],
          fromStart: [topics.runs, topics.history],
          onRecord: (record) => (record.topic === topics.runs ? onState(record) : onHistory(record)),
          onFail: (error) => failed(error),
        });
        try {
          await stopped;
        } finally {
          await feed.close();
        }
      } catch (error) {
        if (stop.signal.aborted) return;
        log(`lockstep serve: following ${topics.runs} and ${topics.history}: ${(error as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, options.retryMs ?? 1000));
      }
    }
  };
  if (options.metrics) {
    options.metrics.watchRunsInFlight(() => [...states.values()].filter((s) => s.status === 'running').length);
    options.metrics.watchLag(() => transport.consumerLag(topics.events, `${resolved.prefix}-orchestrators`));
  }
  const following = follow();

  const recordOf = (runId: string) => {
    const run = histories.get(runId);
    return runRecordOf(states.get(runId), run?.history, run?.onFailureOf);
  };
  const detail = (runId: string): RunDetail | undefined => {
    const state = states.get(runId);
    const run = histories.get(runId);
    const record = recordOf(runId);
    if (!record) return undefined;
    const history = run?.history.entries ?? [];
    // A whole history says where the run stands; where retention cut it, the run-state record does.
    let position: RunPosition | undefined;
    if (run?.facts && run.history.states.length > 0) position = { value: run.history.states.at(-1)!, facts: run.facts };
    else if (state) position = { value: state.snapshot.value as RunPosition['value'], facts: factsOfState(state) };
    return { record, history: [...history], ...(position ? { position } : {}) };
  };

  // A run in flight whose history has a wait in progress is shown waiting (the run-state record does not tell it).
  const statusOf = (record: RunRecord): RunStatusView => waitingView(record.status, histories.get(record.runId)?.facts?.waiting);

  const toEvents = (runId: string, value: Envelope) => transport.publish([{ topic: topics.events, key: runId, value }]);

  return {
    mode: 'kafka',
    sequences: () => offeredSequences(registry),
    programOf,
    async listRuns(query) {
      // Over Kafka no run is interrupted: the orchestrator that takes a partition over drives its runs on.
      if (query.status === 'interrupted') return [];
      const { status, limit, ...filter } = query;
      // `running` lists every run in flight, the waiting ones shown `waiting`; `waiting` only those.
      const stored = status === 'waiting' ? 'running' : status;
      return [...new Set([...states.keys(), ...histories.keys()])]
        .map(recordOf)
        .filter((r): r is RunRecord => r !== undefined && recordMatches(r, { ...filter, ...(stored ? { status: stored } : {}) }))
        .map((record) => ({ record, status: statusOf(record) }))
        .filter((r) => status !== 'waiting' || r.status === 'waiting')
        .sort((a, b) => newestFirst(a.record, b.record))
        .slice(0, limit ?? 50);
    },
    statusOf,
    async resumeRun(runId) {
      throw new LockstepError(
        ErrorCode.runNotResumable,
        `run "${runId}" runs on the Kafka orchestrators: the one that takes over its partition continues it, so there is nothing to resume by hand`,
      );
    },
    getRun: async (runId) => detail(runId),
    async runLogs(runId, filter) {
      if (!recordOf(runId)) return undefined;
      return readRunLogs(transport, resolved.prefix, runId, filter);
    },
    async startRun(request: StartRequest) {
      const runId = request.runId ?? randomUUID();
      registry.resolve(request.sequence, request.version);
      const traceparent = request.traceparent === undefined ? {} : { traceparent: acceptTraceparent(request.traceparent, 'traceparent') };
      await toEvents(runId, runStartMessage({ ...request, runId, ...traceparent }, systemClock.now()));
      return runId;
    },
    cancelRun: (runId, reason) => toEvents(runId, envelope({ type: 'run.cancel', runId, payload: { reason } }, systemClock.now())),
    async signalRun(runId, signal) {
      const value = signalMessage(runId, signal, systemClock.now());
      const record = recordOf(runId);
      const position = detail(runId)?.position;
      if (!record || !position) throw unknownRunError(runId, `${topics.runs} and ${topics.history}`);
      const { current, attempts, completed, continued, error } = position.facts;
      const view = { current, attempts: { ...attempts }, completed: [...completed], continued: [...continued], error };
      assertSignalable({ runId, status: record.status, view, program: programOf(record) }, signal);
      await toEvents(runId, value);
      return PUBLISHED;
    },
    reportTask: (report) => toEvents(report.runId, report),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      stop.abort();
      await following;
      await transport.close();
    },
  };
}
