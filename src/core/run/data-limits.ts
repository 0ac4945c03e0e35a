import type { RunContext, RunEvent, TaskError } from '../compile/types.js';
import { ErrorCode, LockstepError } from '../errors.js';
import { assertInput } from '../input-limits.js';
import { MAX_NESTING_DEPTH, nestingProblem } from '../nesting.js';
import type { DataLimits } from '../sequence/limits.js';
import { DEFAULT_RUN_BYTES, formatBytes, resultTooLargeMessage, runTooLargeMessage, utf8Bytes } from '../sequence/limits.js';
import { formatProblems } from '../sequence/problems.js';
import type { Sequence } from '../sequence/types.js';
import { waitInputProblems } from '../sequence/wait.js';

/** UTF-8 bytes of a value's JSON text; undefined when it has none (undefined, a function). @throws on BigInt, cycles */
export function jsonBytes(value: unknown): number | undefined {
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined ? undefined : utf8Bytes(text);
}

/** Sizes already measured per run: the input, and each result with the value it was measured on. */
interface Sizes {
  readonly input: number;
  readonly results: Map<string, { readonly value: unknown; readonly bytes: number }>;
}
const measured = new WeakMap<object, Sizes>();

/** The run's data besides `except`'s result: its input plus every other result. Each value is measured once per run. */
function dataBytes(run: object, context: RunContext, except: string): number {
  let sizes = measured.get(run);
  if (!sizes) {
    sizes = { input: jsonBytes(context.input) ?? 0, results: new Map() };
    measured.set(run, sizes);
  }
  let total = sizes.input;
  for (const [taskId, value] of Object.entries(context.results)) {
    if (taskId === except) continue;
    let known = sizes.results.get(taskId);
    if (!known || known.value !== value) {
      known = { value, bytes: jsonBytes(value) ?? 0 };
      sizes.results.set(taskId, known);
    }
    total += known.bytes;
  }
  return total;
}

const refused = (code: ErrorCode, message: string): TaskError => ({ message, code, retriable: false, type: 'LimitExceeded' });

/**
 * Where every result enters a run (handlers, shell tasks, queue workers in any language): a success whose result is
 * over the task's `limits.resultBytes`, or would bring the run's input and results over `limits.runBytes`, becomes
 * a non-retriable failure of the attempt that names the limit. So does a result that is not JSON-serialisable, or
 * nested deeper than an input may be.
 * Events about attempts other than the one in flight pass unchanged (the machine ignores their results).
 *
 * @param run the live run, which keeps the sizes measured so far
 * @param limits the limits of the task `event` is about
 */
export function admitResult(run: object, context: RunContext, event: RunEvent, limits: DataLimits): RunEvent {
  if (event.type !== 'TASK_SUCCEEDED' || event.result === undefined) return event;
  const current = context.current;
  if (!current || current.taskId !== event.taskId || current.attempt !== event.attempt) return event;
  const fail = (error: TaskError): RunEvent => ({ type: 'TASK_FAILED', taskId: event.taskId, attempt: event.attempt, error });
  // Nested as deep as an input may be, so that storing and passing it on can never overflow the stack.
  const nested = nestingProblem(event.result, MAX_NESTING_DEPTH, ['result']);
  if (nested)
    return fail({
      ...refused(ErrorCode.invalidResult, `task "${event.taskId}": ${nested.path}: ${nested.message}`),
      type: 'InvalidResult',
    });
  let bytes: number | undefined;
  try {
    bytes = jsonBytes(event.result);
  } catch (error) {
    return fail({
      ...refused(ErrorCode.invalidResult, `task "${event.taskId}": result is not JSON-serialisable: ${(error as Error).message}`),
      type: 'InvalidResult',
    });
  }
  if (bytes === undefined) return event;
  if (bytes > limits.resultBytes)
    return fail(refused(ErrorCode.resultTooLarge, resultTooLargeMessage(event.taskId, bytes, limits.resultBytes)));
  const total = dataBytes(run, context, event.taskId) + bytes;
  if (total > limits.runBytes) return fail(refused(ErrorCode.runDataTooLarge, runTooLargeMessage(event.taskId, total, limits.runBytes)));
  return event;
}

/**
 * Refuses a run input that could not be stored or passed ({@link assertInput}: too deep, over the input cap), or
 * that is alone over its sequence's `limits.runBytes`, so that no task of it could report a result, or that lacks
 * the time of a `wait.until: input.<field>`.
 *
 * @throws LockstepError `INVALID_USAGE` naming the problem, the size and the limit.
 */
export function assertInputWithinLimits(sequence: Sequence, input: unknown): void {
  assertInput(input ?? null);
  // A delay until an input field needs the field: a run without it could never know when to go on.
  const waits = waitInputProblems([...sequence.tasks, ...sequence.finally], input);
  if (waits.length > 0) throw new LockstepError(ErrorCode.invalidUsage, formatProblems(waits));
  const limit = sequence.limits?.runBytes ?? DEFAULT_RUN_BYTES;
  let bytes: number;
  try {
    bytes = jsonBytes(input ?? null) ?? 0;
  } catch (error) {
    throw new LockstepError(ErrorCode.invalidUsage, `input is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (bytes > limit) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      `input is ${formatBytes(bytes)} bytes, over limits.runBytes ${formatBytes(limit)} of sequence "${sequence.name}"`,
    );
  }
}
