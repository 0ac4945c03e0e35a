import { z } from 'zod';
import { MAX_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from './duration.js';
import type { Sequence, TaskAction, TaskHandler, TaskSpec } from './types.js';
import { describeValue } from './problems.js';

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;

const duration = z.unknown().transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration like "500ms", "30s" or "5m", got ${describeValue(value)}`,
    });
    return z.NEVER;
  }
  if (ms > MAX_DURATION_MS) {
    ctx.addIssue({ code: 'custom', message: `expected a duration up to ${MAX_DURATION_TEXT}, got ${describeValue(value)}` });
    return z.NEVER;
  }
  return ms;
});

const positiveDuration = duration.refine((ms) => ms > 0, { message: 'expected a duration greater than 0' });

function integerAtLeast(min: number) {
  const message = (iss: { input?: unknown }) => `expected an integer >= ${min}, got ${describeValue(iss.input)}`;
  return z.number({ error: message }).int({ error: message }).min(min, { error: message });
}

function numberBetween(min: number, max: number) {
  const message = (iss: { input?: unknown }) => `expected a number from ${min} to ${max}, got ${describeValue(iss.input)}`;
  return z.number({ error: message }).min(min, { error: message }).max(max, { error: message });
}

const taskId = z
  .string({ error: (iss) => `expected a string, got ${describeValue(iss.input)}` })
  .regex(ID_PATTERN, {
    error: (iss) =>
      `expected an id of letters, digits, "-" or "_" that starts with a letter, got ${describeValue(iss.input)}`,
  });

const nonEmptyString = z
  .string({ error: (iss) => `expected a string, got ${describeValue(iss.input)}` })
  .min(1, { error: 'expected a non-empty string' });

const backoffSchema = z.strictObject({
  initial: positiveDuration.optional(),
  factor: numberBetween(1, 100).optional(),
  max: positiveDuration.optional(),
  jitter: numberBetween(0, 1).optional(),
});

const retrySchema = z.strictObject({
  maxAttempts: integerAtLeast(1),
  backoff: backoffSchema.optional(),
});

const handlerSchema = z.custom<TaskHandler>((v) => typeof v === 'function', {
  error: (iss) => `expected a function, got ${describeValue(iss.input)}`,
});

const onFailureSchema = z.enum(['stop', 'continue'], {
  error: (iss) => `expected "stop" or "continue", got ${describeValue(iss.input)}`,
});

const bodyShape = {
  description: z.string().optional(),
  run: nonEmptyString.optional(),
  handler: handlerSchema.optional(),
  queue: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, { error: (iss) => `expected a queue name of letters, digits, ".", "-" or "_", got ${describeValue(iss.input)}` })
    .optional(),
  env: z.record(z.string(), z.string({ error: (iss) => `expected a string, got ${describeValue(iss.input)}` })).optional(),
  cwd: nonEmptyString.optional(),
  timeout: positiveDuration.optional(),
  retry: retrySchema.optional(),
};

const compensateSchema = z.strictObject(bodyShape);

const taskSchema = z.strictObject({
  id: taskId,
  ...bodyShape,
  onFailure: onFailureSchema.optional(),
  compensate: compensateSchema.optional(),
});

const taskList = z
  .array(taskSchema, { error: (iss) => `expected a list of tasks, got ${describeValue(iss.input)}` });

const sequenceSchema = z.strictObject({
  name: nonEmptyString,
  version: z
    .union([z.string(), z.number()], { error: (iss) => `expected a string or a number, got ${describeValue(iss.input)}` })
    .optional(),
  description: z.string().optional(),
  timeout: positiveDuration.optional(),
  tasks: taskList.min(1, { error: 'expected at least one task' }),
  finally: taskList.optional(),
});

/** The raw zod schema of a sequence file, before normalisation. Exposed for JSON Schema generation. */
export const SequenceFileSchema = sequenceSchema;
export type SequenceInput = z.input<typeof sequenceSchema>;
type ParsedSequence = z.output<typeof sequenceSchema>;
type ParsedTask = ParsedSequence['tasks'][number];
type ParsedBody = z.output<typeof compensateSchema>;

function actionOf(body: ParsedBody): TaskAction {
  if (body.handler) return { kind: 'handler', handler: body.handler };
  if (body.queue !== undefined) return { kind: 'queue', queue: body.queue };
  return { kind: 'shell', run: body.run ?? '', ...(body.env ? { env: body.env } : {}), ...(body.cwd ? { cwd: body.cwd } : {}) };
}

function toSpec(id: string, body: ParsedBody, onFailure: TaskSpec['onFailure'], compensate?: ParsedBody): TaskSpec {
  const backoff = body.retry?.backoff;
  return {
    id,
    action: actionOf(body),
    ...(body.description ? { description: body.description } : {}),
    ...(body.timeout !== undefined ? { timeoutMs: body.timeout } : {}),
    retry: {
      maxAttempts: body.retry?.maxAttempts ?? 1,
      backoff: {
        initialMs: backoff?.initial ?? 1_000,
        factor: backoff?.factor ?? 2,
        maxMs: backoff?.max ?? 300_000,
        jitter: backoff?.jitter ?? 0,
      },
    },
    onFailure,
    ...(compensate ? { compensate: toSpec(`${id}.compensate`, compensate, 'continue') } : {}),
  };
}

/** Turns parsed input into the normalised {@link Sequence}. */
export function normalise(parsed: ParsedSequence): Sequence {
  const task = (t: ParsedTask, onFailureDefault: TaskSpec['onFailure']) =>
    toSpec(t.id, t, t.onFailure ?? onFailureDefault, t.compensate);
  return {
    name: parsed.name,
    version: parsed.version === undefined ? '1' : String(parsed.version),
    ...(parsed.description ? { description: parsed.description } : {}),
    ...(parsed.timeout !== undefined ? { timeoutMs: parsed.timeout } : {}),
    tasks: parsed.tasks.map((t) => task(t, 'stop')),
    finally: (parsed.finally ?? []).map((t) => task(t, 'continue')),
  };
}
