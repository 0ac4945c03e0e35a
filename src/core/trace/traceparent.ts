import { ErrorCode, LockstepError } from '../errors.js';
import { sha256Hex } from '../hash.js';

/** A W3C Trace Context `traceparent`, split: the trace, the parent span, and the trace flags (`01`: sampled). */
export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  readonly flags: string;
}

const FORM = '"00-<32 hex digits trace id>-<16 hex digits parent id>-<2 hex digits flags>" (W3C Trace Context)';
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
/** The form of a `traceparent`, for schemas; {@link traceparentProblem} checks the rest (zero ids, versions). */
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Why `value` is not a `traceparent` lockstep accepts, or `undefined` when it is one. Version 00 has exactly four
 * fields; a later version may carry more after them (the W3C rule), which are dropped.
 */
export function traceparentProblem(value: string): string | undefined {
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  const m = TRACEPARENT.exec(value);
  if (!m) return `expected ${FORM}, lowercase, got ${shown}`;
  const [, version, traceId, spanId, , rest] = m;
  if (version === 'ff') return `version "ff" is invalid (W3C Trace Context), got ${shown}`;
  if (version === '00' && rest !== undefined) return `version 00 has exactly four fields, got ${shown}`;
  if (traceId === ZERO_TRACE) return `the trace id must not be all zeros, got ${shown}`;
  if (spanId === ZERO_SPAN) return `the parent id must not be all zeros, got ${shown}`;
  return undefined;
}

/** The parts of a valid `traceparent` (see {@link traceparentProblem}); `undefined` for one that is not. */
export function parseTraceparent(value: string): TraceParent | undefined {
  if (traceparentProblem(value) !== undefined) return undefined;
  const [, traceId, spanId, flags] = value.split('-');
  return { traceId: traceId!, spanId: spanId!, flags: flags! };
}

/** The version 00 `traceparent` of a span. */
export const formatTraceparent = (traceId: string, spanId: string, flags: string): string => `00-${traceId}-${spanId}-${flags}`;

/** `count` hex digits derived from `text`, never all zeros (an all-zero id is invalid). */
function derivedId(text: string, count: number): string {
  const id = sha256Hex(text).slice(0, count);
  return /^0+$/.test(id) ? `${id.slice(0, -1)}1` : id;
}

/**
 * The trace of a run, derived from what its `run.started` entry records and nothing else, so that whichever
 * orchestrator records the run's next entries (after a restart or a takeover) names the same spans: the trace id
 * of the `traceparent` the run started with, else one derived from the run id; the root span's id derived from
 * the run id; its parent, the span the `traceparent` names.
 */
export interface RunTrace {
  readonly traceId: string;
  readonly rootSpanId: string;
  readonly parentSpanId?: string;
  /** Trace flags, from the `traceparent`; `01` (sampled) without one. */
  readonly flags: string;
}

/** The {@link RunTrace} of a run, from its id and the `traceparent` it started with. */
export function runTrace(runId: string, traceparent?: string): RunTrace {
  const parent = traceparent === undefined ? undefined : parseTraceparent(traceparent);
  return {
    traceId: parent?.traceId ?? derivedId(`lockstep.trace\n${runId}`, 32),
    rootSpanId: derivedId(`lockstep.run\n${runId}`, 16),
    ...(parent ? { parentSpanId: parent.spanId } : {}),
    flags: parent?.flags ?? '01',
  };
}

/** The span id of one attempt of a task: a child of the run's root span. */
export const attemptSpanId = (runId: string, phase: string, taskId: string, attempt: number): string =>
  derivedId(`lockstep.attempt\n${runId}\n${phase}\n${taskId}\n${attempt}`, 16);

/** The `traceparent` an attempt's task receives: its own span, in the run's trace. */
export function attemptTraceparent(runId: string, traceparent: string | undefined, phase: string, taskId: string, attempt: number): string {
  const trace = runTrace(runId, traceparent);
  return formatTraceparent(trace.traceId, attemptSpanId(runId, phase, taskId, attempt), trace.flags);
}

/**
 * The `traceparent` a run starts with, in version 00 form. `where` names where it came from, for the error.
 * @throws LockstepError INVALID_USAGE when it is not a valid one.
 */
export function acceptTraceparent(value: string, where: string): string {
  const problem = traceparentProblem(value);
  if (problem !== undefined) throw new LockstepError(ErrorCode.invalidUsage, `${where}: ${problem}`);
  const p = parseTraceparent(value)!;
  return formatTraceparent(p.traceId, p.spanId, p.flags);
}
