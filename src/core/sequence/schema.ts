import { z } from 'zod';
import { MAX_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from './duration.js';
import type { DataLimits } from './limits.js';
import {
  DEFAULT_LIMITS,
  ENV_TOTAL_MAX_BYTES,
  ENV_VALUE_MAX_BYTES,
  MAX_LIMIT_BYTES,
  parseSize,
  RUN_MAX_BYTES,
  utf8Bytes,
} from './limits.js';
import { describeValue } from './problems.js';
import type { Sequence, TaskAction, TaskHandler, TaskSpec } from './types.js';
import { NEVER, normaliseWait, waitSchema } from './wait.js';

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

/** Bytes of a task's `env:` as the process gets it: `NAME=value` and a NUL for each. */
const envBytes = (env: Readonly<Record<string, string>>): number =>
  Object.entries(env).reduce((sum, [name, value]) => sum + utf8Bytes(name) + utf8Bytes(value) + 2, 0);

const positiveDuration = duration.refine((ms) => ms > 0, { message: 'expected a duration greater than 0' });

/** A main or finally task's timeout: a duration, or `never` (a signal wait that may wait for ever). */
const taskTimeout = z.unknown().transform((value, ctx): number | typeof NEVER => {
  if (value === NEVER) return NEVER;
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0 || ms > MAX_DURATION_MS) {
    ctx.addIssue({
      code: 'custom',
      message:
        ms === undefined
          ? `expected a duration like "500ms", "30s" or "5m", got ${describeValue(value)}`
          : ms <= 0
            ? 'expected a duration greater than 0'
            : `expected a duration up to ${MAX_DURATION_TEXT}, got ${describeValue(value)}`,
    });
    return z.NEVER;
  }
  return ms;
});

function integerAtLeast(min: number) {
  const message = (iss: { input?: unknown }) => `expected an integer >= ${min}, got ${describeValue(iss.input)}`;
  return z.number({ error: message }).int({ error: message }).min(min, { error: message });
}

function numberBetween(min: number, max: number) {
  const message = (iss: { input?: unknown }) => `expected a number from ${min} to ${max}, got ${describeValue(iss.input)}`;
  return z.number({ error: message }).min(min, { error: message }).max(max, { error: message });
}

const taskId = z.string({ error: (iss) => `expected a string, got ${describeValue(iss.input)}` }).regex(ID_PATTERN, {
  error: (iss) => `expected an id of letters, digits, "-" or "_" that starts with a letter, got ${describeValue(iss.input)}`,
});

const nonEmptyString = z
  .string({ error: (iss) => `expected a string, got ${describeValue(iss.input)}` })
  .min(1, { error: 'expected a non-empty string' });

const size = z.unknown().transform((value, ctx) => {
  const bytes = parseSize(value);
  if (bytes === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a size from 1 byte to 1GiB (${MAX_LIMIT_BYTES} bytes) like 1048576, "512KiB" or "1MiB", got ${describeValue(value)}`,
    });
    return z.NEVER;
  }
  return bytes;
});

const limitsSchema = z.strictObject({
  resultBytes: size.optional(),
  runBytes: size.optional(),
});

const needsSchema = z.array(taskId, { error: (iss) => `expected a list of task ids, got ${describeValue(iss.input)}` });

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
  run: nonEmptyString
    .refine((v) => utf8Bytes(v) <= RUN_MAX_BYTES, {
      error: (iss) =>
        `expected a command of at most ${RUN_MAX_BYTES} bytes (64KiB), got ${utf8Bytes(String(iss.input))}: put a longer script in a file`,
    })
    .optional(),
  handler: handlerSchema.optional(),
  queue: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, {
      error: (iss) => `expected a queue name of letters, digits, ".", "-" or "_", got ${describeValue(iss.input)}`,
    })
    .optional(),
  env: z
    .record(
      z.string(),
      z
        .string({ error: (iss) => `expected a string, got ${describeValue(iss.input)}` })
        .refine((v) => !v.includes('\0'), { error: 'expected a string without NUL characters' })
        .refine((v) => utf8Bytes(v) <= ENV_VALUE_MAX_BYTES, {
          error: (iss) =>
            `expected at most ${ENV_VALUE_MAX_BYTES} bytes (32KiB), got ${utf8Bytes(String(iss.input))}: pass bigger data in the input`,
        }),
    )
    .refine((env) => envBytes(env) <= ENV_TOTAL_MAX_BYTES, {
      error: (iss) =>
        `expected at most ${ENV_TOTAL_MAX_BYTES} bytes (64KiB) of variables together, got ${envBytes(iss.input as Record<string, string>)}: pass bigger data in the input`,
    })
    .optional(),
  cwd: nonEmptyString.optional(),
  timeout: positiveDuration.optional(),
  retry: retrySchema.optional(),
  limits: limitsSchema.optional(),
  needs: needsSchema.optional(),
};

const compensateSchema = z.strictObject(bodyShape);

const taskSchema = z.strictObject({
  id: taskId,
  ...bodyShape,
  timeout: taskTimeout.optional(),
  wait: waitSchema.optional(),
  onTimeout: z.enum(['fail', 'continue'], { error: (iss) => `expected "fail" or "continue", got ${describeValue(iss.input)}` }).optional(),
  onFailure: onFailureSchema.optional(),
  compensate: compensateSchema.optional(),
});

const taskList = z.array(taskSchema, { error: (iss) => `expected a list of tasks, got ${describeValue(iss.input)}` });

const sequenceSchema = z.strictObject({
  name: nonEmptyString,
  version: z
    .union([z.string(), z.number()], { error: (iss) => `expected a string or a number, got ${describeValue(iss.input)}` })
    .optional(),
  description: z.string().optional(),
  timeout: positiveDuration.optional(),
  tasks: taskList.min(1, { error: 'expected at least one task' }),
  finally: taskList.optional(),
  limits: limitsSchema.optional(),
});

/** The raw zod schema of a sequence file, before normalisation. Exposed for JSON Schema generation. */
export const SequenceFileSchema = sequenceSchema;
export type SequenceInput = z.input<typeof sequenceSchema>;
type ParsedSequence = z.output<typeof sequenceSchema>;
type ParsedTask = ParsedSequence['tasks'][number];
type ParsedBody = z.output<typeof compensateSchema>;

function actionOf(body: ParsedBody | ParsedTask): TaskAction {
  if ('wait' in body && body.wait) return { kind: 'wait', wait: normaliseWait(body.wait, body.onTimeout) };
  if (body.handler) return { kind: 'handler', handler: body.handler, ...(body.queue !== undefined ? { queue: body.queue } : {}) };
  if (body.queue !== undefined) return { kind: 'queue', queue: body.queue };
  return { kind: 'shell', run: body.run ?? '', ...(body.env ? { env: body.env } : {}), ...(body.cwd ? { cwd: body.cwd } : {}) };
}

/** A task's limits: its own, else the ones it inherits (the sequence's, or for a compensation its task's). */
function limitsOf(own: ParsedBody['limits'], inherited: DataLimits): DataLimits {
  return { resultBytes: own?.resultBytes ?? inherited.resultBytes, runBytes: own?.runBytes ?? inherited.runBytes };
}

function toSpec(
  id: string,
  body: ParsedBody | ParsedTask,
  onFailure: TaskSpec['onFailure'],
  inherited: DataLimits,
  compensate?: ParsedBody,
): TaskSpec {
  const backoff = body.retry?.backoff;
  const limits = limitsOf(body.limits, inherited);
  return {
    id,
    action: actionOf(body),
    ...(body.description ? { description: body.description } : {}),
    ...(typeof body.timeout === 'number' ? { timeoutMs: body.timeout } : {}),
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
    limits,
    ...(body.needs ? { needs: body.needs } : {}),
    ...(compensate ? { compensate: toSpec(`${id}.compensate`, compensate, 'continue', limits) } : {}),
  };
}

/** Turns parsed input into the normalised {@link Sequence}. */
export function normalise(parsed: ParsedSequence): Sequence {
  const limits = limitsOf(parsed.limits, DEFAULT_LIMITS);
  const task = (t: ParsedTask, onFailureDefault: TaskSpec['onFailure']) =>
    toSpec(t.id, t, t.onFailure ?? onFailureDefault, limits, t.compensate);
  return {
    name: parsed.name,
    version: parsed.version === undefined ? '1' : String(parsed.version),
    ...(parsed.description ? { description: parsed.description } : {}),
    ...(parsed.timeout !== undefined ? { timeoutMs: parsed.timeout } : {}),
    tasks: parsed.tasks.map((t) => task(t, 'stop')),
    finally: (parsed.finally ?? []).map((t) => task(t, 'continue')),
    limits,
  };
}
