import { z } from 'zod';
import { PROTOCOL_VERSION } from './envelope.js';
import { parseRecord } from './parse-record.js';

/**
 * `attempt.log`: lines of one attempt's log on the `<prefix>.logs` topic, keyed by run id. Workers ship them in
 * batches (each record within the topic's record limit) before they report the attempt's outcome; readers
 * (`lockstep logs --brokers`, `serve --brokers`) fold a run's records into its attempt logs.
 */
export const LogRecordSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('attempt.log'),
  runId: z.string().min(1).max(200),
  task: z.string().min(1),
  attempt: z.number().int().min(1),
  phase: z.enum(['main', 'compensate', 'finally']),
  lines: z.array(z.object({ at: z.number(), stream: z.enum(['stdout', 'stderr', 'log']), text: z.string() })),
  truncated: z.literal(true).optional(),
});

export type LogRecord = z.infer<typeof LogRecordSchema>;

/** A log record's content: the lines of one attempt (the `AttemptLogChunk` of the ports). */
export type LogRecordChunk = Omit<LogRecord, 'v' | 'type' | 'lines'> & { readonly lines: readonly LogRecord['lines'][number][] };

/** The record of a chunk. */
export function logRecord(chunk: LogRecordChunk): LogRecord {
  const { runId, task, attempt, phase, lines, truncated } = chunk;
  return { v: PROTOCOL_VERSION, type: 'attempt.log', runId, task, attempt, phase, lines: [...lines], ...(truncated ? { truncated } : {}) };
}

/** Parses a log record's text into its chunk. Never throws. */
export function parseLogRecord(raw: string): { success: true; chunk: LogRecordChunk } | { success: false; reason: string } {
  const parsed = parseRecord(LogRecordSchema, raw);
  if (!parsed.success) return parsed;
  const { v: _v, type: _type, ...chunk } = parsed.data;
  return { success: true, chunk };
}
