import { z } from 'zod';
import type { StateValue } from '../graph/model.js';
import { PROTOCOL_VERSION } from './envelope.js';
import { parseRecord } from './parse-record.js';
import type { RunEntry } from './run-entry.js';

const StateValueSchema: z.ZodType<StateValue> = z.lazy(() => z.union([z.string(), z.record(z.string(), StateValueSchema)]));

/**
 * `run.entry`: one line of a run's history on the `<prefix>.history` topic, keyed by run id and partitioned like
 * the events topic. Orchestrators write every entry embedded mode records, in the transaction of the batch that
 * produced it, with the run's state value right after it: readers (`lockstep show --brokers`, `serve --brokers`)
 * print the history as it happened, and never step a machine to find a state.
 */
export const HistoryRecordSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('run.entry'),
  runId: z.string().min(1).max(200),
  /** The entry's place in the run's history, from 0: readers tell a redelivered record from the next one. */
  seq: z.number().int().min(0),
  /** The history entry, exactly as embedded mode records it (`lockstep show --json` prints these). */
  entry: z.looseObject({ type: z.string().min(1), runId: z.string().min(1), at: z.number() }),
  /** The run's state value (the XState snapshot's `value`) once the entry happened. */
  state: StateValueSchema,
  /**
   * Set when the whole entry would not fit the topic's record limit (or the broker refused it): the fields of `entry`
   * that were left out (`entry.result`, `entry.event`, ...) and why. The run failed with that reason.
   */
  reduced: z.object({ reason: z.string(), dropped: z.array(z.string()) }).optional(),
});

/** A history record, with its entry typed (an entry {@link HistoryRecord.reduced} lacks the fields it names). */
export type HistoryRecord = Omit<z.infer<typeof HistoryRecordSchema>, 'entry' | 'state'> & {
  readonly entry: RunEntry;
  readonly state: StateValue;
};

/** Parses a history record's text. Never throws. */
export function parseHistoryRecord(raw: string): { success: true; record: HistoryRecord } | { success: false; reason: string } {
  const parsed = parseRecord(HistoryRecordSchema, raw);
  return parsed.success ? { success: true, record: parsed.data as unknown as HistoryRecord } : parsed;
}
