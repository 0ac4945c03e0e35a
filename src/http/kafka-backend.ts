import { KafkaTransport } from '../modes/kafka/index.js';
import { randomUUID } from 'node:crypto';
import { ErrorCode, LockstepError } from '../core/errors.js';
import type { StateValue } from '../core/graph/model.js';
import { topicNames } from '../core/protocol/envelope.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import { isReservedKey } from '../core/protocol/partition-offset.js';
import { parseRunState } from '../core/protocol/run-state.js';
import type { RunState } from '../core/protocol/run-state.js';
import type { Sequence } from '../core/sequence/types.js';
import { sha256Hex } from '../core/hash.js';
import { envelope } from '../runtime/messages.js';
import type { StartRequest } from '../runtime/orchestrator.js';
import { ProgramRegistry } from '../core/run/registry.js';
import { systemClock } from '../runtime/system-clock.js';
import type { LiveUpdate, RunQuery, ServeBackend, ServedSequence, StoredRun } from './backend.js';
import { programResolver } from './embedded-backend.js';
import { stateView } from './run-view.js';
import { contextOf, entriesBetween, recordOfState } from './state-history.js';

export interface KafkaBackendOptions {
  readonly brokers: string;
  /** Sequences the page can start and draw; the orchestrators must know them too. */
  readonly sequences: ReadonlyArray<{ readonly sequence: Sequence; readonly definition: string; readonly source?: string }>;
  /** @default 'lockstep' */
  readonly topicPrefix?: string;
  /** How often to look for the run-state topic while it does not exist yet. @default 1000 */
  readonly retryMs?: number;
  readonly onLog?: (line: string) => void;
}

interface Watched {
  state: RunState;
  readonly history: RunEntry[];
}

/**
 * The Kafka mode of `lockstep serve`: separate orchestrators drive the runs. The server follows the compacted
 * run-state topic from its beginning to build its view of every run, and publishes start, cancel and ingested
 * completions to the events topic. Histories are derived from successive states of each run.
 */
export async function createKafkaBackend(options: KafkaBackendOptions): Promise<ServeBackend> {
  const topics = topicNames(options.topicPrefix);
  const transport = new KafkaTransport({ brokers: options.brokers, clientId: 'lockstep-serve', logLevel: 'nothing' });
  await transport.partitionCounts([topics.runs]).catch(async (error: unknown) => {
    await transport.close();
    throw error;
  });
  const registry = new ProgramRegistry();
  for (const s of options.sequences) registry.register(s.sequence, { definition: s.definition, hash: sha256Hex(s.definition), ...(s.source ? { source: s.source } : {}) });
  const programOf = programResolver(registry);
  const runs = new Map<string, Watched>();
  const listeners = new Set<(update: LiveUpdate) => void>();
  const stop = new AbortController();

  const apply = (state: RunState) => {
    const watched = runs.get(state.runId);
    if (watched && state.updatedAt < watched.state.updatedAt) return;
    const program = programOf({ sequence: state.sequence, version: state.version, ...(state.definitionHash ? { definitionHash: state.definitionHash } : {}) });
    const finallyIds = new Set(program?.sequence.finally.map((t) => t.id) ?? []);
    const entries = entriesBetween(watched?.state, state, finallyIds);
    const history = watched?.history ?? [];
    if (watched) watched.state = state;
    else runs.set(state.runId, { state, history });
    const view = stateView(state.snapshot.value as StateValue, contextOf(state));
    for (const entry of entries) {
      history.push(entry);
      for (const listener of listeners) listener({ entry, seq: history.length - 1, state: view });
    }
  };

  const follow = async () => {
    while (!stop.signal.aborted) {
      try {
        const counts = await transport.partitionCounts([topics.runs]);
        const partitions = counts.get(topics.runs) ?? 0;
        if (partitions === 0) throw new Error(`topic ${topics.runs} does not exist yet (start an orchestrator)`);
        const lows = await transport.endOffsets(topics.runs);
        const from = new Map([...Array(partitions).keys()].map((p) => [p, String(lows.get(p)?.low ?? 0n)]));
        await transport.tailPartitions(topics.runs, [...from.keys()], (message) => {
          // lockstep's own records (a partition's offset) are not runs; a tombstone deletes an expired run.
          if (isReservedKey(message.key)) return false;
          if (message.value === null) {
            if (message.key !== null) runs.delete(message.key);
            return false;
          }
          const parsed = parseRunState(message.value);
          if (parsed.success) apply(parsed.state);
          else options.onLog?.(`lockstep serve: skipping a record of ${topics.runs} at ${message.partition}/${message.offset}: ${parsed.reason}`);
          return false;
        }, { from, signal: stop.signal });
      } catch (error) {
        if (stop.signal.aborted) return;
        options.onLog?.(`lockstep serve: following ${topics.runs}: ${(error as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, options.retryMs ?? 1000));
      }
    }
  };
  const following = follow();

  const publish = (runId: string, body: { type: 'run.start' | 'run.cancel'; payload: unknown }) =>
    transport.publish([{ topic: topics.events, key: runId, value: envelope({ ...body, runId }, systemClock.now()) }]);

  return {
    mode: 'kafka',
    sequences(): ServedSequence[] {
      return registry.names().map((name) => {
        const r = registry.resolve(name);
        return { program: r.program, definition: r.definition, hash: r.hash, ...(r.source ? { source: r.source } : {}) };
      });
    },
    programOf,
    async listRuns(query: RunQuery) {
      // Over Kafka no run is interrupted: the orchestrator that takes a partition over drives its runs on.
      return [...runs.values()]
        .map((w) => recordOfState(w.state))
        .filter((r) => (!query.status || r.status === query.status) && (!query.sequence || r.sequence === query.sequence))
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, query.limit ?? 50)
        .map((record) => ({ record, status: record.status }));
    },
    statusOf: (record) => record.status,
    async resumeRun(runId) {
      throw new LockstepError(
        ErrorCode.runNotResumable,
        `run "${runId}" runs on the Kafka orchestrators: the one that takes over its partition continues it, so there is nothing to resume by hand`,
      );
    },
    async getRun(runId): Promise<StoredRun | undefined> {
      const watched = runs.get(runId);
      if (!watched) return undefined;
      return { record: recordOfState(watched.state), history: [...watched.history], snapshot: { value: watched.state.snapshot.value, context: contextOf(watched.state) } };
    },
    async startRun(request: StartRequest) {
      const runId = request.runId ?? randomUUID();
      registry.resolve(request.sequence, request.version);
      await publish(runId, {
        type: 'run.start',
        payload: {
          sequence: request.sequence, ...(request.version ? { version: request.version } : {}), input: request.input ?? null,
          ...(request.rerunOf ? { rerunOf: request.rerunOf } : {}),
          ...(request.reuse ? { reuse: { succeeded: request.reuse.succeeded, continued: request.reuse.continued ?? [] } } : {}),
        },
      });
      return runId;
    },
    cancelRun: (runId, reason) => publish(runId, { type: 'run.cancel', payload: { reason } }),
    ingest: (env) => transport.publish([{ topic: topics.events, key: env.runId, value: env }]),
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
