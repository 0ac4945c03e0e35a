import { z } from 'zod';
import { parseRecord } from './parse-record.js';
import type { RunContext } from '../compile/types.js';
import type { PersistedRun } from '../step.js';
import { PROTOCOL_VERSION } from './envelope.js';

const id = z.string().min(1).max(200);

/** How a run ended, as kept in its last state record. */
export const RunFinalSchema = z.object({
  outcome: z.enum(['succeeded', 'failed', 'cancelled']),
  reason: z.string().optional(),
  durationMs: z.number(),
  failedTasks: z.array(z.string()),
});

/**
 * `run.state`: the state of one run on the compacted run-state topic, keyed by run id. Orchestrators write it in
 * the same transaction as the commands of the step that produced it, and restore runs from it when they are
 * assigned the run's partition. Timers carry absolute due times so they fire at their original time.
 */
export const RunStateSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('run.state'),
  runId: id,
  /** ISO-8601 time the state was written. */
  time: z.string().min(1),
  sequence: id,
  version: z.string(),
  /** sha256 of the definition the run started with. */
  definitionHash: z.string().optional(),
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  /** The task in flight, if any. */
  currentTask: z.string().optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** The machine's snapshot (`Program.persist`): state value, context and status. */
  snapshot: z.object({ value: z.unknown(), context: z.record(z.string(), z.unknown()), status: z.enum(['active', 'done']) }),
  /** Pending timers: id -> due time in ms since the epoch. */
  timers: z.record(z.string(), z.number()),
  /** When the attempt in flight was dispatched (ms since the epoch). */
  attemptStartedAt: z.number(),
  /** Attempts (`task:attempt`) whose own completion was applied: tells a duplicate report from a late one. */
  completions: z.array(z.string()),
  /** Set once the run has ended. */
  final: RunFinalSchema.optional(),
  /**
   * Set when the whole state would not fit the topic's record limit: what was left out (`snapshot.context.results`,
   * then `snapshot.context.input`, then the snapshot itself) and why. A running run restored from such a record
   * fails every task it dispatches after that, with this reason.
   */
  reduced: z.object({ reason: z.string(), dropped: z.array(z.string()) }).optional(),
});

export type RunState = z.infer<typeof RunStateSchema>;
export type RunFinal = z.infer<typeof RunFinalSchema>;

/** Parses a run-state record's text. Never throws. */
export function parseRunState(raw: string): { success: true; state: RunState } | { success: false; reason: string } {
  const parsed = parseRecord(RunStateSchema, raw);
  return parsed.success ? { success: true, state: parsed.data } : parsed;
}

/** The persisted snapshot of a state record, typed for `Program.restore`. */
export function persistedOf(state: RunState): PersistedRun {
  return { value: state.snapshot.value, context: state.snapshot.context as unknown as RunContext, status: state.snapshot.status };
}
