import { z } from 'zod';
import { DefinitionRecordSchema } from './definition-record.js';
import {
  EnvelopeSchema,
  PROTOCOL_VERSION,
  RunCancelSchema,
  RunStartSchema,
  TaskCancelSchema,
  TaskDispatchSchema,
  TaskFailedSchema,
  TaskSignalSchema,
  TaskSucceededSchema,
  TimerFiredSchema,
} from './envelope.js';
import { HistoryRecordSchema } from './history-record.js';
import { LogRecordSchema } from './log-record.js';
import { PartitionOffsetSchema } from './partition-offset.js';
import { RunStateSchema } from './run-state.js';

/** What lands on the dead-letter topic (the wire form of `DeadLetter`). */
export const DeadLetterSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('dead-letter'),
  reason: z.string(),
  /** The text as received, or its first bytes when `rawTruncated`. */
  raw: z.string(),
  /** Size of the whole text as received, in UTF-8 bytes. */
  rawBytes: z.number().int().min(0).optional(),
  /** sha256 of the whole text as received (UTF-8), hex. */
  rawSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /** True when `raw` holds only the start of the text. */
  rawTruncated: z.boolean().optional(),
  source: z.object({ topic: z.string(), partition: z.number().int(), offset: z.string() }),
  time: z.string(),
});

const WIRE = {
  envelope: {
    schema: EnvelopeSchema,
    title: 'lockstep message',
    description: "Any message on lockstep's command and events topics (JSON, keyed by run id).",
  },
  'run.start': {
    schema: RunStartSchema,
    title: 'run.start',
    description: 'A client asks the orchestrators to start a run. Topic: <prefix>.events.',
  },
  'run.cancel': { schema: RunCancelSchema, title: 'run.cancel', description: 'A client asks to cancel a run. Topic: <prefix>.events.' },
  'task.dispatch': {
    schema: TaskDispatchSchema,
    title: 'task.dispatch',
    description: 'An orchestrator asks a worker to run one attempt of a task. Topic: <prefix>.commands.<queue>.',
  },
  'task.cancel': {
    schema: TaskCancelSchema,
    title: 'task.cancel',
    description: 'An orchestrator asks a worker to stop an attempt. Topic: <prefix>.commands.<queue>.',
  },
  'task.succeeded': {
    schema: TaskSucceededSchema,
    title: 'task.succeeded',
    description: 'A worker reports that an attempt succeeded. Topic: <prefix>.events, key: the run id.',
  },
  'task.failed': {
    schema: TaskFailedSchema,
    title: 'task.failed',
    description: 'A worker reports that an attempt failed. Topic: <prefix>.events, key: the run id.',
  },
  'task.signal': {
    schema: TaskSignalSchema,
    title: 'task.signal',
    description:
      "A signal for a run's wait task (wait: { signal: true }): its data is the task's result, or reject fails it. Topic: <prefix>.events, key: the run id.",
  },
  'timer.fired': {
    schema: TimerFiredSchema,
    title: 'timer.fired',
    description: "A run's timer came due (orchestrators only). Topic: <prefix>.events.",
  },
  'run.state': {
    schema: RunStateSchema,
    title: 'run.state',
    description: 'The state of one run. Topic: <prefix>.runs (compacted), key: the run id.',
  },
  'partition.offset': {
    schema: PartitionOffsetSchema,
    title: 'partition.offset',
    description:
      'How far an orchestrator group has consumed one events partition. Topic: <prefix>.runs, same partition, key: __lockstep.offset.<group>.<partition>.',
  },
  'run.entry': {
    schema: HistoryRecordSchema,
    title: 'run.entry',
    description:
      "One entry of a run's history, with its place in it and the run's state after it. Topic: <prefix>.history, key: the run id.",
  },
  'attempt.log': {
    schema: LogRecordSchema,
    title: 'attempt.log',
    description:
      "Lines of one attempt's log (stdout, stderr, a handler's ctx.log), in order, shipped by the worker before the attempt's outcome. Topic: <prefix>.logs, key: the run id.",
  },
  'sequence.definition': {
    schema: DefinitionRecordSchema,
    title: 'sequence.definition',
    description: 'The exact definition runs may start with. Topic: <prefix>.definitions (compacted, one partition), key: its sha256.',
  },
  'dead-letter': {
    schema: DeadLetterSchema,
    title: 'dead-letter',
    description: 'A message that could not be processed, and why. Topic: <prefix>.dead-letter.',
  },
} as const;

/** The JSON Schema (draft 2020-12) of every message lockstep reads or writes, by file name (without `.json`). */
export function wireJsonSchemas(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, { schema, title, description }] of Object.entries(WIRE)) {
    // `input`: what a producer may send (unknown extra fields are accepted and ignored).
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    const { $schema, ...rest } = json;
    out[name] = { $schema, title, description, ...rest };
  }
  return out;
}
