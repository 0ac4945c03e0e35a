import { z } from 'zod';
import { MAX_DURATION_MS, MAX_DURATION_TEXT, parseDuration } from './duration.js';
import type { Problem } from './problems.js';
import { describeValue } from './problems.js';

/**
 * What a wait task waits for. A signal wait ends with a signal (its data is the task's result) or a rejection;
 * a delay ends by itself, `delayMs` after the attempt began or at a time (`at`, or the input field `field`).
 */
export type WaitSpec =
  | {
      readonly for: 'signal';
      /** JSON Schema the signal's data must match. */
      readonly schema?: Readonly<Record<string, unknown>>;
      /** What the task's timeout means: a failure of the task (the default), or the run goes on past it. */
      readonly onTimeout: 'fail' | 'continue';
    }
  | { readonly for: 'delay'; readonly delayMs: number }
  | { readonly for: 'until'; readonly at: number }
  | { readonly for: 'until'; readonly field: string };

/** How a wait task's definition reads before normalisation. */
export interface WaitInput {
  readonly signal?: true;
  readonly schema?: Record<string, unknown>;
  readonly duration?: number;
  readonly until?: string;
}

/** `until: input.<path>`: the time is the run input's field at that dotted path. */
const INPUT_FIELD = /^input((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)$/;
/** An ISO 8601 time with a date, a time and an offset: nothing a reader could take for a local time. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/** Milliseconds since the epoch of an ISO 8601 time with an offset, or `undefined`. */
export function parseIsoTime(value: unknown): number | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  if (typeof value !== 'string' || !ISO_TIME.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Keywords whose values are data, not schemas: left as they are. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'example']);

/**
 * The schema with every `required` key also listed under `properties` (as `{}` when it was not): zod's JSON
 * Schema reader checks only the required keys it finds there, and JSON Schema requires the others all the same.
 */
function declareRequired(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(declareRequired);
  if (!isObj(schema)) return schema;
  const out: Obj = {};
  for (const [key, value] of Object.entries(schema)) out[key] = DATA_KEYWORDS.has(key) ? value : declareRequired(value);
  if (Array.isArray(out.required)) {
    const properties: Obj = isObj(out.properties) ? { ...out.properties } : {};
    for (const key of out.required) if (typeof key === 'string' && !Object.hasOwn(properties, key)) properties[key] = {};
    out.properties = properties;
  }
  return out;
}

/** The checker of a signal schema, or the reason it cannot be one. */
export function signalSchemaOf(schema: unknown): { readonly check: z.ZodType } | { readonly problem: string } {
  try {
    return { check: z.fromJSONSchema(declareRequired(schema) as Parameters<typeof z.fromJSONSchema>[0]) };
  } catch (error) {
    return { problem: `expected a JSON Schema lockstep can check: ${(error as Error).message}` };
  }
}

/** The zod schema of a task's `wait:` field. */
export const waitSchema = z.strictObject({
  signal: z.literal(true, { error: (iss) => `expected true, got ${describeValue(iss.input)}` }).optional(),
  schema: z
    .record(z.string(), z.unknown(), { error: (iss) => `expected a JSON Schema object, got ${describeValue(iss.input)}` })
    .superRefine((schema, ctx) => {
      const compiled = signalSchemaOf(schema);
      if ('problem' in compiled) ctx.addIssue({ code: 'custom', message: compiled.problem });
    })
    .optional(),
  duration: z
    .unknown()
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined || ms <= 0 || ms > MAX_DURATION_MS) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration greater than 0 and up to ${MAX_DURATION_TEXT}, like "30s" or "2h", got ${describeValue(value)}`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .optional(),
  until: z
    .unknown()
    .transform((value, ctx) => {
      if (typeof value === 'string' && INPUT_FIELD.test(value)) return value;
      const ms = parseIsoTime(value);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `expected an ISO 8601 time with an offset, like "2026-12-24T09:00:00Z", or an input field, like "input.remindAt", got ${describeValue(value)}`,
        });
        return z.NEVER;
      }
      return new Date(ms).toISOString();
    })
    .optional(),
});

/** `timeout: never`: a signal wait that says it may wait for ever. */
export const NEVER = 'never';

/** Turns a task's parsed `wait:` (and its `onTimeout`) into a {@link WaitSpec}. */
export function normaliseWait(wait: z.output<typeof waitSchema>, onTimeout: 'fail' | 'continue' | undefined): WaitSpec {
  if (wait.duration !== undefined) return { for: 'delay', delayMs: wait.duration };
  if (wait.until !== undefined) {
    const field = INPUT_FIELD.exec(wait.until);
    return field ? { for: 'until', field: field[1]!.slice(1) } : { for: 'until', at: Date.parse(wait.until) };
  }
  return { for: 'signal', ...(wait.schema ? { schema: wait.schema } : {}), onTimeout: onTimeout ?? 'fail' };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The problems of a task's wait that span fields: one thing to wait for, no action besides it, a timeout that a
 * signal wait must declare (or say `never`) and a delay cannot have. `timeout: never` and `onTimeout` belong to
 * signal waits only.
 */
export function waitProblems(task: Obj, path: string, problems: Problem[]): void {
  const wait = task.wait;
  if (wait === undefined) {
    if (task.timeout === NEVER)
      problems.push({ path: `${path}.timeout`, message: '"never" applies only to a signal wait (wait: { signal: true })' });
    if (task.onTimeout !== undefined)
      problems.push({ path: `${path}.onTimeout`, message: 'onTimeout applies only to a signal wait (wait: { signal: true })' });
    return;
  }
  for (const k of ['run', 'handler', 'queue', 'env', 'cwd'] as const) {
    if (task[k] !== undefined)
      problems.push({ path: `${path}.${k}`, message: `a wait task does nothing but wait: "${k}" is not allowed with "wait"` });
  }
  if (!isObj(wait)) return; // the schema reports it
  const kinds = (['signal', 'duration', 'until'] as const).filter((k) => wait[k] !== undefined);
  if (kinds.length !== 1) {
    const got = kinds.length === 0 ? 'none' : kinds.map((k) => `"${k}"`).join(' and ');
    problems.push({ path: `${path}.wait`, message: `expected exactly one of "signal", "duration" or "until", got ${got}` });
    return;
  }
  if (kinds[0] === 'signal') {
    if (task.timeout === undefined) {
      problems.push({
        path: `${path}.timeout`,
        message: 'a signal wait must say how long it waits: a timeout like "48h", or "never" to wait for ever',
      });
    }
    return;
  }
  if (wait.schema !== undefined) problems.push({ path: `${path}.wait.schema`, message: 'a schema applies only to a signal wait' });
  for (const k of ['timeout', 'onTimeout', 'retry'] as const) {
    if (task[k] !== undefined)
      problems.push({ path: `${path}.${k}`, message: `a delay ends by itself: "${k}" is not allowed with wait.${kinds[0]}` });
  }
}

/** The value at a dotted path of `input`, or `undefined`. */
function valueAt(input: unknown, path: string): unknown {
  let value = input;
  for (const key of path.split('.')) {
    if (!isObj(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

/**
 * When a `wait.until` comes due for a run of `input`, in ms since the epoch; `undefined` when the input field it
 * names holds no ISO time (a run start is refused then, see {@link waitInputProblems}).
 */
export function untilDueAt(wait: Extract<WaitSpec, { for: 'until' }>, input: unknown): number | undefined {
  return 'at' in wait ? wait.at : parseIsoTime(valueAt(input, wait.field));
}

/** The problems of a run input with the `wait.until` input fields of `tasks`: each must hold an ISO time. */
export function waitInputProblems(
  tasks: ReadonlyArray<{ readonly id: string; readonly action: { readonly kind: string; readonly wait?: WaitSpec } }>,
  input: unknown,
): Problem[] {
  const problems: Problem[] = [];
  for (const task of tasks) {
    const wait = task.action.kind === 'wait' ? task.action.wait : undefined;
    if (wait?.for !== 'until' || !('field' in wait) || untilDueAt(wait, input) !== undefined) continue;
    problems.push({
      path: `input.${wait.field}`,
      message: `task ${task.id} waits until this time: expected an ISO 8601 time with an offset, like "2026-12-24T09:00:00Z", got ${describeValue(valueAt(input, wait.field))}`,
    });
  }
  return problems;
}
