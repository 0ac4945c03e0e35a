import type { EnvelopeOf, topicNames } from '../../../core/protocol/envelope.js';
import { PROTOCOL_VERSION } from '../../../core/protocol/envelope.js';
import type { PartitionOffset } from '../../../core/protocol/partition-offset.js';
import { isReservedKey, parsePartitionOffset, partitionOffsetKey } from '../../../core/protocol/partition-offset.js';
import type { FinalEntry } from '../../../core/protocol/run-entry.js';
import type { RunFinal, RunState } from '../../../core/protocol/run-state.js';
import { parseRunState } from '../../../core/protocol/run-state.js';
import type { LiveRun } from '../../../core/run/live-run.js';
import type { ProgramRegistry } from '../../../core/run/registry.js';
import { restoreRunOrThrow } from '../../../core/run/restore-run.js';
import type { StoredMessage, TopicMessage } from '../../../ports/transport.js';
import { isoTime } from '../../messages.js';

/** What a run's state record says besides the live run itself. */
export interface RunStateMeta {
  readonly definitionHash?: string;
  readonly final?: FinalEntry;
  /** How many history entries the run has, this state's included. */
  readonly entries?: number;
}

/** The state record of a live run, for the compacted run-state topic. */
export function runStateOf(run: LiveRun, meta: RunStateMeta, now: number): RunState {
  const snapshot = run.program.persist(run.snapshot);
  const context = snapshot.context;
  const final = meta.final;
  const status = final ? final.outcome : 'running';
  const current = final ? (final.outcome === 'succeeded' ? undefined : context.error?.taskId) : context.current?.taskId;
  return {
    v: PROTOCOL_VERSION,
    type: 'run.state',
    runId: run.runId,
    time: isoTime(now),
    sequence: run.program.sequence.name,
    version: run.program.sequence.version,
    ...(meta.definitionHash ? { definitionHash: meta.definitionHash } : {}),
    ...(run.traceparent ? { traceparent: run.traceparent } : {}),
    status,
    ...(current ? { currentTask: current } : {}),
    createdAt: run.startedAt,
    updatedAt: now,
    snapshot: { value: snapshot.value, context: context as unknown as Record<string, unknown>, status: snapshot.status },
    timers: Object.fromEntries(run.timers),
    attemptStartedAt: run.attemptStartedAt,
    completions: [...run.completions],
    ...(final ? { final: finalOf(final) } : {}),
    ...(meta.entries === undefined ? {} : { entries: meta.entries }),
  };
}

function finalOf(entry: FinalEntry): RunFinal {
  return {
    outcome: entry.outcome,
    durationMs: entry.durationMs,
    failedTasks: [...entry.failedTasks],
    ...(entry.reason ? { reason: entry.reason } : {}),
  };
}

/** The final entry a finished run's state record stands for. */
export function finalEntryOf(state: RunState): FinalEntry | undefined {
  const f = state.final;
  if (!f) return undefined;
  return {
    type: `run.${f.outcome}`,
    runId: state.runId,
    at: state.updatedAt,
    outcome: f.outcome,
    durationMs: f.durationMs,
    failedTasks: f.failedTasks,
    ...(f.reason ? { reason: f.reason } : {}),
  };
}

/**
 * Rebuilds a live run from its state record: snapshot, pending timers with their due times, bookkeeping.
 * `tryRestoreRun` (restore-run.ts) says why a record does not restore without throwing.
 *
 * @throws LockstepError UNKNOWN_SEQUENCE or INVALID_MESSAGE, with the reason.
 */
export function restoreRun(registry: ProgramRegistry, state: RunState): LiveRun {
  return restoreRunOrThrow(registry, state);
}

/** A record of the run-state topic that could not be read back, and why. */
export interface UnreadableRecord {
  readonly record: StoredMessage;
  readonly reason: string;
}

/**
 * What reading run-state partitions back found: the latest state of each run, the latest offset record of each
 * key (orchestrator group and partition), and the latest records that did not parse (a run whose latest state
 * does not parse is not restored from an earlier one).
 */
export interface LatestStates {
  readonly states: Map<string, { state: RunState; partition: number; offset: string }>;
  readonly offsets: Map<string, PartitionOffset>;
  readonly malformed: UnreadableRecord[];
}

/**
 * Keeps the last record of each key (a compacted topic may still hold older ones); tombstones remove a run. A run's
 * earlier states are skipped unparsed: a partition not compacted yet holds one record per batch that touched a run,
 * and only its latest counts.
 */
export function latestStates(records: readonly StoredMessage[]): LatestStates {
  const states = new Map<string, { state: RunState; partition: number; offset: string }>();
  const offsets = new Map<string, PartitionOffset>();
  const malformed = new Map<string, UnreadableRecord>();
  const latest = new Map<string, StoredMessage>();
  for (const r of records) {
    if (r.key === null) continue;
    if (isReservedKey(r.key)) {
      const offset = r.value === null ? undefined : parsePartitionOffset(r.value);
      if (offset?.success) offsets.set(r.key, offset.record);
      else if (offset) malformed.set(r.key, { record: r, reason: `partition.offset record: ${offset.reason}` });
      continue;
    }
    // Deleted first: the map keeps the order of each key's last record.
    latest.delete(r.key);
    latest.set(r.key, r);
  }
  for (const [key, r] of latest) {
    if (r.value === null) continue;
    const parsed = parseRunState(r.value);
    if (parsed.success) states.set(key, { state: parsed.state, partition: r.partition, offset: r.offset });
    else malformed.set(key, { record: r, reason: `run.state record: ${parsed.reason}` });
  }
  return { states, offsets, malformed: [...malformed.values()] };
}

/** The state of a run that could not start (an unknown sequence): failed at once, with the reason. */
export function rejectedRunState(start: EnvelopeOf<'run.start'>, reason: string, now: number): RunState {
  return {
    v: PROTOCOL_VERSION,
    type: 'run.state',
    runId: start.runId,
    time: isoTime(now),
    sequence: start.payload.sequence,
    version: start.payload.version ?? 'unknown',
    status: 'failed',
    createdAt: now,
    updatedAt: now,
    snapshot: { value: 'rejected', context: { runId: start.runId, input: start.payload.input ?? null }, status: 'done' },
    timers: {},
    attemptStartedAt: now,
    completions: [],
    final: { outcome: 'failed', reason: `not started: ${reason}`, durationMs: 0, failedTasks: [] },
  };
}

/** The record of how far a group applied `partition` of the events topic, for the same partition of the run-state topic. */
export function offsetRecordOf(
  topics: ReturnType<typeof topicNames>,
  group: string,
  partition: number,
  offset: string,
  now: number,
): TopicMessage {
  const value: PartitionOffset = {
    v: PROTOCOL_VERSION,
    type: 'partition.offset',
    group,
    topic: topics.events,
    partition,
    offset,
    time: isoTime(now),
  };
  return { topic: topics.runs, partition, key: partitionOffsetKey(group, partition), value };
}

/** Where a group's committed run states stand in each of `partitions` of `eventsTopic`, from their offset records. */
export function positionsOf(
  offsets: LatestStates['offsets'],
  eventsTopic: string,
  group: string,
  partitions: readonly number[],
): Map<number, string> {
  const positions = new Map<number, string>();
  for (const p of partitions) {
    const record = offsets.get(partitionOffsetKey(group, p));
    if (record && record.topic === eventsTopic && record.partition === p) positions.set(p, record.offset);
  }
  return positions;
}
