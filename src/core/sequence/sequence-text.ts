import type { DataLimits } from './limits.js';
import { DEFAULT_LIMITS } from './limits.js';
import { DEFAULT_QUEUE } from './queues.js';
import type { Sequence, TaskSpec, WaitSpec } from './types.js';
import { NEVER } from './wait.js';

type Json = Record<string, unknown>;

/** A wait in the file format: what it waits for (times as ISO text, input fields as `input.<path>`). */
function waitOf(wait: WaitSpec): Json {
  switch (wait.for) {
    case 'signal':
      return { signal: true, ...(wait.schema ? { schema: wait.schema } : {}) };
    case 'delay':
      return { duration: wait.delayMs };
    case 'until':
      return { until: 'field' in wait ? `input.${wait.field}` : new Date(wait.at).toISOString() };
  }
}

const DEFAULT_BACKOFF = { initialMs: 1_000, factor: 2, maxMs: 300_000, jitter: 0 };

const sameLimits = (a: DataLimits | undefined, b: DataLimits): boolean =>
  (a ?? DEFAULT_LIMITS).resultBytes === b.resultBytes && (a ?? DEFAULT_LIMITS).runBytes === b.runBytes;

/** A task's body in the file format: what it does and its options, defaults left out. */
function bodyOf(spec: TaskSpec, inherited: DataLimits): Json {
  const { action, retry } = spec;
  const body: Json = {};
  if (action.kind === 'shell') {
    body.run = action.run;
    if (action.env) body.env = { ...action.env };
    if (action.cwd) body.cwd = action.cwd;
  } else if (action.kind === 'wait') {
    body.wait = waitOf(action.wait);
  } else {
    // A function is code: what it leaves in the structure is where it runs, a queue whose workers have the code.
    body.queue = action.queue ?? DEFAULT_QUEUE;
  }
  if (spec.description) body.description = spec.description;
  if (spec.timeoutMs !== undefined) body.timeout = spec.timeoutMs;
  else if (action.kind === 'wait' && action.wait.for === 'signal') body.timeout = NEVER;
  const b = retry.backoff;
  const defaultBackoff =
    b.initialMs === DEFAULT_BACKOFF.initialMs &&
    b.factor === DEFAULT_BACKOFF.factor &&
    b.maxMs === DEFAULT_BACKOFF.maxMs &&
    b.jitter === DEFAULT_BACKOFF.jitter;
  if (retry.maxAttempts !== 1 || !defaultBackoff) {
    body.retry = {
      maxAttempts: retry.maxAttempts,
      ...(defaultBackoff ? {} : { backoff: { initial: b.initialMs, factor: b.factor, max: b.maxMs, jitter: b.jitter } }),
    };
  }
  if (!sameLimits(spec.limits, inherited)) body.limits = { ...(spec.limits ?? DEFAULT_LIMITS) };
  if (spec.needs) body.needs = [...spec.needs];
  return body;
}

function taskOf(spec: TaskSpec, limits: DataLimits, onFailureDefault: TaskSpec['onFailure'] | undefined): Json {
  const task: Json = { id: spec.id, ...bodyOf(spec, limits) };
  if (onFailureDefault !== undefined && spec.onFailure !== onFailureDefault) task.onFailure = spec.onFailure;
  if (spec.action.kind === 'wait' && spec.action.wait.for === 'signal' && spec.action.wait.onTimeout !== 'fail') {
    task.onTimeout = spec.action.wait.onTimeout;
  }
  if (spec.compensate) task.compensate = bodyOf(spec.compensate, spec.limits ?? limits);
  return task;
}

/**
 * The structure of a sequence as the JSON text of a definition file: what another process compiles into the same
 * machine without the sequence's code. Durations are in milliseconds and sizes in bytes; a function task appears
 * as a task of its queue (`{ "queue": "default" }`), the workers that have its code. The same sequence always
 * gives the same text, so its sha256 names the structure, as a file's names its text.
 *
 * @example sequenceText(sequence('s').then('a', async () => 1).build())
 * // { "name": "s", "version": "1", "tasks": [{ "id": "a", "queue": "default" }] }, over several lines
 */
export function sequenceText(sequence: Sequence): string {
  const limits = sequence.limits ?? DEFAULT_LIMITS;
  const text: Json = { name: sequence.name, version: sequence.version };
  if (sequence.description) text.description = sequence.description;
  if (sequence.timeoutMs !== undefined) text.timeout = sequence.timeoutMs;
  if (!sameLimits(sequence.limits, DEFAULT_LIMITS)) text.limits = { ...limits };
  text.tasks = sequence.tasks.map((t) => taskOf(t, limits, 'stop'));
  if (sequence.finally.length > 0) text.finally = sequence.finally.map((t) => taskOf(t, limits, undefined));
  return JSON.stringify(text, null, 2);
}
