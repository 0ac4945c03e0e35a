import { z } from 'zod';
import { TRACEPARENT_PATTERN, traceparentProblem } from '../trace/traceparent.js';
import { DERIVED_MAX_DEPTH, MAX_RECORD_DEPTH, nestingBeyond, parseRecord, tooDeep } from './parse-record.js';

/** Protocol version carried by every message. */
export const PROTOCOL_VERSION = 1;

const id = z.string().min(1).max(200);
/** Keys of the run-state topic that start with this are lockstep's own records, never a run's. */
export const RESERVED_KEY_PREFIX = '__lockstep.';
const runId = id.regex(/^(?!__lockstep\.)/, 'run ids starting with "__lockstep." are reserved');
const attempt = z.number().int().min(1);
/** A W3C Trace Context `traceparent`. */
export const TraceparentSchema = z
  .string()
  .regex(TRACEPARENT_PATTERN, { error: (issue) => traceparentProblem(String(issue.input)), abort: true })
  .superRefine((value, ctx) => {
    const problem = traceparentProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

/** A task's failure as events carry it. */
export const TaskErrorSchema = z.object({
  message: z.string(),
  code: z.string().optional(),
  retriable: z.boolean().optional(),
  type: z.string().optional(),
  output: z.string().optional(),
});

const header = {
  v: z.literal(PROTOCOL_VERSION),
  /** Unique message id (a UUID), for tracing and de-duplication. */
  id,
  runId,
  /** ISO-8601 time the message was produced. */
  time: z.string().min(1),
  /** Id of the message that caused this one (a dispatch names the event whose step produced it), for tracing. */
  causationId: id.optional(),
};

const taskHeader = { ...header, taskId: id, attempt };

/** `run.start`: a client asks an orchestrator to start a run. */
export const RunStartSchema = z.object({
  ...header,
  type: z.literal('run.start'),
  payload: z.object({
    sequence: id,
    version: z.string().optional(),
    input: z.unknown().optional(),
    /** Set by rerun: the run this one continues from. */
    rerunOf: id.optional(),
    /** Results reused from the earlier run (rerun --from): the first tasks that succeeded, and those that failed under `continue`. */
    reuse: z
      .object({
        succeeded: z.array(z.object({ taskId: id, result: z.unknown().optional() })),
        continued: z.array(id).optional(),
      })
      .optional(),
    /** A W3C `traceparent`: the run's trace is a child of that span. */
    traceparent: TraceparentSchema.optional(),
  }),
});

/** `run.cancel`: a client asks to cancel a run. */
export const RunCancelSchema = z.object({ ...header, type: z.literal('run.cancel'), payload: z.object({ reason: z.string().optional() }) });

/** `task.dispatch`: an orchestrator asks a worker to run one attempt of a task. */
export const TaskDispatchSchema = z.object({
  ...taskHeader,
  type: z.literal('task.dispatch'),
  payload: z.object({
    sequence: id,
    version: z.string(),
    /**
     * sha256 of the exact definition the run started with (its text, or a code-defined sequence's structure), so
     * that a worker runs that definition's task even after the file changed under the same version. Workers look
     * it up on the definitions topic when they do not know it. Absent from dispatches of older lockstep versions.
     */
    definitionHash: id.optional(),
    phase: z.enum(['main', 'compensate', 'finally']),
    /** `<runId>:<taskId>:<attempt>`: the same for every redelivery of this attempt. */
    idempotencyKey: z.string(),
    queue: z.string(),
    input: z.unknown(),
    results: z.record(z.string(), z.unknown()),
    /** Milliseconds the attempt may take before the orchestrator times it out. */
    timeoutMs: z.number().int().positive().optional(),
    /**
     * W3C `traceparent` of the attempt: its own span when the orchestrator traces runs, else the one the run was
     * started with. Absent when neither. Workers pass it on (shell tasks get it as `TRACEPARENT`).
     */
    traceparent: TraceparentSchema.optional(),
  }),
});

/** `task.cancel`: an orchestrator asks a worker to stop an attempt. */
export const TaskCancelSchema = z.object({ ...taskHeader, type: z.literal('task.cancel'), payload: z.object({ reason: z.string() }) });

/** `task.succeeded`: a worker reports that an attempt succeeded. */
export const TaskSucceededSchema = z.object({
  ...taskHeader,
  type: z.literal('task.succeeded'),
  payload: z.object({ result: z.unknown().optional() }),
});

/** `task.failed`: a worker reports that an attempt failed. */
export const TaskFailedSchema = z.object({ ...taskHeader, type: z.literal('task.failed'), payload: z.object({ error: TaskErrorSchema }) });

/** `timer.fired`: a run's timer came due. Orchestrators publish it to the events topic so it is ordered with the run's other events. */
export const TimerFiredSchema = z.object({
  ...header,
  type: z.literal('timer.fired'),
  payload: z.object({ timerId: z.string().min(1), dueAt: z.number() }),
});

/**
 * `task.signal`: a signal for a run's wait task (`wait: { signal: true }`), from anyone who may send one: its data
 * becomes the task's result, or `reject` fails the task for good. No attempt: it is for the wait in progress.
 */
export const TaskSignalSchema = z.object({
  ...header,
  type: z.literal('task.signal'),
  taskId: id,
  payload: z.object({
    /** The task's result; checked against the task's `wait.schema`. */
    data: z.unknown().optional(),
    /** A rejection and its reason, instead of data. */
    reject: z.string().min(1).optional(),
  }),
});

/** Every message lockstep reads or writes. */
export const EnvelopeSchema = z.discriminatedUnion('type', [
  RunStartSchema,
  RunCancelSchema,
  TaskDispatchSchema,
  TaskCancelSchema,
  TaskSucceededSchema,
  TaskFailedSchema,
  TimerFiredSchema,
  TaskSignalSchema,
]);

/**
 * What lands on the dead-letter topic: why a record was rejected, and the record's text, or the start of it when
 * it is long (`rawTruncated`), with the whole text's size and sha256, so that a dead letter always fits its topic.
 */
export interface DeadLetter {
  readonly v: typeof PROTOCOL_VERSION;
  readonly type: 'dead-letter';
  readonly reason: string;
  /** The text as received, or its first bytes (see `rawTruncated`). */
  readonly raw: string;
  /** Size of the whole text as received, in UTF-8 bytes. */
  readonly rawBytes: number;
  /** sha256 of the whole text as received (UTF-8), hex. */
  readonly rawSha256: string;
  /** True when `raw` holds only the start of the text. */
  readonly rawTruncated: boolean;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: string };
  readonly time: string;
}

export type Envelope = z.infer<typeof EnvelopeSchema>;
export type EnvelopeType = Envelope['type'];
export type EnvelopeOf<T extends EnvelopeType> = Extract<Envelope, { type: T }>;

/**
 * Parses one message's text. Never throws: malformed input yields the reason, for the dead-letter topic. A
 * message nests at most {@link MAX_RECORD_DEPTH} levels; a dispatch, which wraps the results of earlier
 * messages, {@link DERIVED_MAX_DEPTH}.
 */
export function parseEnvelope(raw: string): { success: true; envelope: Envelope } | { success: false; reason: string } {
  const parsed = parseRecord(EnvelopeSchema, raw, { maxDepth: DERIVED_MAX_DEPTH });
  if (!parsed.success) return parsed;
  if (parsed.data.type !== 'task.dispatch') {
    const deep = nestingBeyond(raw, MAX_RECORD_DEPTH);
    if (deep !== undefined) return { success: false, reason: tooDeep(MAX_RECORD_DEPTH, deep) };
  }
  return { success: true, envelope: parsed.data };
}

/** Topic names under a prefix. */
export function topicNames(prefix = 'lockstep') {
  return {
    commands: (queue: string) => `${prefix}.commands.${queue}`,
    events: `${prefix}.events`,
    runs: `${prefix}.runs`,
    /** Every history entry of every run, keyed by run id, partitioned like the events topic. */
    history: `${prefix}.history`,
    /** Compacted: the exact definition text of each sequence a run started with, keyed by its sha256. */
    definitions: `${prefix}.definitions`,
    deadLetter: `${prefix}.dead-letter`,
    /** Attempts' log lines (shell output, handlers' `ctx.log`), keyed by run id. */
    logs: `${prefix}.logs`,
  } as const;
}
