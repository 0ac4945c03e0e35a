import { z } from 'zod';
import { ErrorCode, LockstepError } from '../errors.js';
import { PROTOCOL_VERSION, RESERVED_KEY_PREFIX } from './envelope.js';
import { parseRecord } from './parse-record.js';

/**
 * `partition.offset`: how far an orchestrator group has consumed one partition of the events topic. It is
 * written to the same partition of the run-state topic, in the transaction that commits the batch's commands and
 * run states, so the run states and the position they stand for can never disagree. A member that takes the
 * partition over reads it back together with the run states and resumes right after it.
 */
export const PartitionOffsetSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('partition.offset'),
  /** The consumer group of the orchestrators. */
  group: z.string().min(1),
  /** The consumed topic (`<prefix>.events`). */
  topic: z.string().min(1),
  partition: z.number().int().min(0),
  /** The next offset to consume: every message before it has been applied. */
  offset: z.string().regex(/^\d+$/, 'expected a non-negative integer as a string'),
  /** ISO-8601 time the record was written. */
  time: z.string().min(1),
});

export type PartitionOffset = z.infer<typeof PartitionOffsetSchema>;

/** The key of a group's offset record for one partition (compaction keeps the latest). */
export function partitionOffsetKey(group: string, partition: number): string {
  return `${RESERVED_KEY_PREFIX}offset.${group}.${partition}`;
}

/** True for keys of lockstep's own records on the run-state topic: readers of run states skip them. */
export function isReservedKey(key: string | null): boolean {
  return key?.startsWith(RESERVED_KEY_PREFIX) ?? false;
}

/** @throws LockstepError INVALID_USAGE for a run id in the reserved namespace. */
export function assertRunId(runId: string): void {
  if (isReservedKey(runId))
    throw new LockstepError(ErrorCode.invalidUsage, `runId: run ids starting with "${RESERVED_KEY_PREFIX}" are reserved, got "${runId}"`);
}

/** Parses an offset record's text. Never throws. */
export function parsePartitionOffset(raw: string): { success: true; record: PartitionOffset } | { success: false; reason: string } {
  const parsed = parseRecord(PartitionOffsetSchema, raw);
  return parsed.success ? { success: true, record: parsed.data } : parsed;
}
