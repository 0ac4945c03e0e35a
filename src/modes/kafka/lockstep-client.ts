import { randomUUID } from 'node:crypto';
import { KafkaTransport, partitionOf } from '../../adapters/kafka/index.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { assertInput } from '../../core/input-limits.js';
import { topicNames } from '../../core/protocol/envelope.js';
import { assertRunId } from '../../core/protocol/partition-offset.js';
import type { RunState } from '../../core/protocol/run-state.js';
import { parseRunState } from '../../core/protocol/run-state.js';
import { latestStates } from '../../runtime/journals/kafka/run-state-topic.js';
import { envelope, runStartMessage } from '../../runtime/messages.js';
import type { KafkaModeOptions } from './connection.js';
import { resolveKafka } from './connection.js';

/** What to start. */
export interface StartOptions {
  readonly input?: unknown;
  /** @default the latest version the orchestrators know */
  readonly version?: string;
  /** @default a random UUID */
  readonly runId?: string;
}

/** Talks to the orchestrators of a Kafka deployment: starts, inspects and cancels runs. */
export interface LockstepClient {
  /** Publishes a `run.start` and resolves to the run's id. */
  start(sequence: string, options?: StartOptions): Promise<string>;
  /** The run's last committed state, or `undefined` for a run no orchestrator has started (yet). */
  status(runId: string): Promise<RunState | undefined>;
  /** Resolves with the run's state once it has ended (`status` is then its outcome). */
  wait(runId: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<RunState>;
  /** Asks the run to cancel: the task in flight is cancelled, then compensations and finally tasks run. */
  cancel(runId: string, reason?: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Creates a client. Runs are started and cancelled with messages on the events topic; their state is read from the
 * compacted run-state topic, in the partition of the run id.
 */
export function createLockstepClient(options: KafkaModeOptions = {}): LockstepClient {
  const resolved = resolveKafka(options);
  const topics = topicNames(resolved.prefix);
  const transport = new KafkaTransport({ ...resolved, clientId: options.clientId ?? 'lockstep-client' });
  let partitions: Promise<number> | undefined;
  const partitionOfRun = async (runId: string) => {
    partitions ??= transport.partitionCounts([topics.runs]).then((c) => {
      const n = c.get(topics.runs);
      if (!n) throw new LockstepError(ErrorCode.transportUnavailable, `topic ${topics.runs} does not exist: create the topics first (lockstep topics create)`);
      return n;
    });
    // A failure is not kept: the next call asks again.
    partitions.catch(() => (partitions = undefined));
    return partitionOf(runId, await partitions);
  };
  const status = async (runId: string) => {
    const records = await transport.readPartitions(topics.runs, [await partitionOfRun(runId)]);
    return latestStates(records.filter((r) => r.key === runId)).states.get(runId)?.state;
  };
  return {
    async start(sequence, start = {}) {
      const runId = start.runId ?? randomUUID();
      assertRunId(runId);
      assertInput(start.input ?? null);
      const value = runStartMessage({ runId, sequence, ...(start.version ? { version: start.version } : {}), input: start.input ?? null }, Date.now());
      await transport.publish([{ topic: topics.events, key: runId, value }]);
      return runId;
    },
    status,
    async wait(runId, waitOptions = {}) {
      const partition = await partitionOfRun(runId);
      const ends = await transport.endOffsets(topics.runs);
      const now = await status(runId);
      if (now && now.status !== 'running') return now;
      let final: RunState | undefined;
      const found = await transport.tailPartitions(topics.runs, [partition], (m) => {
        if (m.key !== runId || m.value === null) return false;
        const parsed = parseRunState(m.value);
        if (parsed.success && parsed.state.status !== 'running') final = parsed.state;
        return final !== undefined;
      }, { from: new Map([[partition, String(ends.get(partition)?.high ?? 0n)]]), ...waitOptions });
      if (!found || !final) {
        const waited = waitOptions.timeoutMs === undefined ? 'waiting was stopped' : `it did not end within ${waitOptions.timeoutMs} ms`;
        throw new LockstepError(ErrorCode.waitTimeout, `gave up waiting for run ${runId}: ${waited}; the run goes on (see it with \`lockstep status ${runId}\`)`, { retriable: true });
      }
      return final;
    },
    async cancel(runId, reason = 'cancelled by a client') {
      await transport.publish([{ topic: topics.events, key: runId, value: envelope({ type: 'run.cancel', runId, payload: { reason } }, Date.now()) }]);
    },
    close: () => transport.close(),
  };
}
