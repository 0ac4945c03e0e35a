import { z } from 'zod';
import { inputProblems } from '../core/input-limits.js';
import { MAX_NESTING_DEPTH, nestingProblem } from '../core/nesting.js';
import { TaskFailedSchema, TaskSucceededSchema } from '../core/protocol/envelope.js';
import type { Problem } from '../core/sequence/problems.js';
import { describeValue, problemsFromIssues } from '../core/sequence/problems.js';
import type { RunCursor } from '../ports/run-store.js';

/** A run's input: any JSON that can be stored and passed to every task (see {@link inputProblems}). */
const runInput = z.unknown().superRefine((value, ctx) => {
  for (const p of inputProblems(value))
    ctx.addIssue({ code: 'custom', message: p.path === 'input' ? p.message : `at ${p.path}: ${p.message}` });
});

/** A signal's data: any JSON within the same limits, since it becomes the task's result. */
const signalData = z.unknown().superRefine((value, ctx) => {
  for (const p of inputProblems(value, ['data']))
    ctx.addIssue({
      code: 'custom',
      message: p.path === 'data' ? p.message.replace('an input', 'signal data') : `at ${p.path}: ${p.message}`,
    });
});

const name = z
  .string({ error: (iss) => `expected a string, got ${describeValue(iss.input)}` })
  .min(1, { error: 'expected a non-empty string' })
  .max(200);

/** `POST /api/runs`: starts a run of a served sequence. */
export const StartRunBody = z.strictObject({
  sequence: name,
  /** @default the version loaded last */
  version: z.string().min(1).optional(),
  /** The run's input, any JSON within the input limits (nesting, size). @default null */
  input: runInput.optional(),
});

/** `POST /api/runs/:runId/cancel`. */
export const CancelBody = z.strictObject({ reason: z.string().min(1).max(500).optional() });

/** `POST /api/runs/:runId/rerun`: a new run that reuses the results of the tasks before `from`. */
export const RerunBody = z.strictObject({
  /** Main task to run again from. @default the first task that did not succeed */
  from: name.optional(),
  /** @default the earlier run's input */
  input: runInput.optional(),
});

const statuses = ['running', 'waiting', 'interrupted', 'succeeded', 'failed', 'cancelled'] as const;

/** A time in a query: ms since the epoch, or an ISO 8601 date (`2026-12-02T08:00:00Z`). */
const instant = z
  .string()
  .transform((value, ctx) => {
    const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (Number.isFinite(ms)) return ms;
    ctx.addIssue({ code: 'custom', message: `expected ms since the epoch or an ISO 8601 date, got ${describeValue(value)}` });
    return z.NEVER;
  })
  .optional();

/** A page cursor as `GET /api/runs` hands it out in `next`: opaque to clients. */
export function encodeCursor(cursor: RunCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.runId])).toString('base64url');
}

function decodeCursor(text: string): RunCursor | undefined {
  try {
    const [createdAt, runId] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    return typeof createdAt === 'number' && typeof runId === 'string' ? { createdAt, runId } : undefined;
  } catch {
    return undefined;
  }
}

/** `GET /api/runs` query. */
export const RunListQuery = z.strictObject({
  /** Runs whose id starts with this text. */
  idPrefix: z.string().min(1).max(200).optional(),
  /** Runs started at or after this time. */
  since: instant,
  /** Runs started before this time. */
  until: instant,
  /** The `next` of the previous page. */
  cursor: z
    .string()
    .transform((value, ctx) => {
      const cursor = decodeCursor(value);
      if (cursor) return cursor;
      ctx.addIssue({ code: 'custom', message: `expected the "next" of an earlier answer, got ${describeValue(value)}` });
      return z.NEVER;
    })
    .optional(),
  status: z
    .enum(statuses, { error: (iss) => `expected one of ${statuses.map((s) => `"${s}"`).join(', ')}, got ${describeValue(iss.input)}` })
    .optional(),
  sequence: name.optional(),
  /** @default 50 */
  limit: z
    .unknown()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : typeof value === 'number' ? value : NaN;
      if (Number.isInteger(n) && n >= 1 && n <= 1000) return n;
      ctx.addIssue({ code: 'custom', message: `expected an integer from 1 to 1000, got ${describeValue(value)}` });
      return z.NEVER;
    })
    .optional(),
});

/**
 * `POST /api/runs/:runId/tasks/:task/signal`: the data that ends the wait (the task's result; checked against the
 * task's schema by the run service), or a rejection with its reason. Within the input limits, like a run's input.
 */
export const SignalBody = z.strictObject({
  data: signalData.optional(),
  reject: z
    .string({ error: (iss) => `expected a reason: a non-empty string, got ${describeValue(iss.input)}` })
    .max(2000, { error: 'expected a reason of at most 2000 characters' })
    .optional(),
});

/** `POST /api/runs/:runId/resume`: no options. */
export const ResumeBody = z.strictObject({});

/** `GET /api/runs/:runId/rerun-plan` query. */
export const RerunPlanQuery = z.strictObject({ from: name.optional() });

/** `POST /api/ingest`: a remote service's `task.succeeded` or `task.failed` envelope, exactly as on the events topic. */
export const IngestBody = z.discriminatedUnion('type', [TaskSucceededSchema, TaskFailedSchema]);

/** A parse result at the edge: the data, or every problem with its path. */
export type Parsed<T> = { readonly success: true; readonly data: T } | { readonly success: false; readonly problems: readonly Problem[] };

/** Validates a request part with a zod schema; problems are reported with exact paths. */
export function parseRequest<T>(schema: z.ZodType<T>, value: unknown): Parsed<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return { success: true, data: parsed.data };
  return { success: false, problems: problemsFromIssues(parsed.error.issues, value) };
}

/** Validates an ingest body, telling other envelope types apart from malformed ones. */
export function parseIngest(value: unknown): Parsed<z.infer<typeof IngestBody>> {
  const type = value !== null && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  if (type !== 'task.succeeded' && type !== 'task.failed') {
    return {
      success: false,
      problems: [{ path: 'type', message: `expected "task.succeeded" or "task.failed", got ${describeValue(type)}` }],
    };
  }
  const parsed = parseRequest(IngestBody, value);
  if (!parsed.success) return parsed;
  // A result nested past the limit could not be stored: it is refused here, not retried by the store forever.
  const payload = parsed.data.payload as { result?: unknown };
  const nested = 'result' in payload ? nestingProblem(payload.result, MAX_NESTING_DEPTH, ['payload', 'result']) : undefined;
  return nested ? { success: false, problems: [nested] } : parsed;
}
