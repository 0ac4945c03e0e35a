import type { Command } from '../core/compile/types.js';
import type { topicNames } from '../core/protocol/envelope.js';
import type { LiveRun } from '../core/run/live-run.js';
import { findSpec } from '../core/run/live-run.js';
import { actionQueue } from '../core/sequence/queues.js';
import { attemptTraceparent } from '../core/trace/traceparent.js';
import type { TopicMessage } from '../ports/transport.js';
import { envelope } from './messages.js';

/** Where task commands go, and what they carry besides the command. */
export interface CommandContext {
  readonly topics: ReturnType<typeof topicNames>;
  /** Queue of shell tasks, and of function tasks that name none. */
  readonly defaultQueue: string;
  readonly now: number;
  /** Id of the message whose step produced the command. */
  readonly cause?: string;
  /** Whether runs are traced here: dispatches then carry their attempt's own `traceparent`. */
  readonly traced?: boolean;
}

/** The queue a task's commands go to. */
export function queueOf(run: LiveRun, taskId: string, defaultQueue: string): string {
  const action = findSpec(run.program, taskId)?.action;
  return action ? actionQueue(action, defaultQueue) : defaultQueue;
}

/** The `task.dispatch` or `task.cancel` message of a command, on its task's command topic. */
export function taskCommandMessage(
  run: LiveRun,
  c: Extract<Command, { type: 'dispatch' | 'cancelTask' }>,
  ctx: CommandContext,
): TopicMessage {
  const { runId } = run;
  const causationId = ctx.cause ? { causationId: ctx.cause } : {};
  const queue = queueOf(run, c.taskId, ctx.defaultQueue);
  if (c.type === 'cancelTask') {
    const value = envelope(
      { type: 'task.cancel', runId, taskId: c.taskId, attempt: c.attempt, ...causationId, payload: { reason: c.reason } },
      ctx.now,
    );
    return { topic: ctx.topics.commands(queue), key: runId, value };
  }
  const spec = findSpec(run.program, c.taskId);
  const payload = {
    sequence: run.program.sequence.name,
    version: run.program.sequence.version,
    ...(run.definitionHash ? { definitionHash: run.definitionHash } : {}),
    phase: c.phase,
    idempotencyKey: c.idempotencyKey,
    queue,
    input: c.input,
    results: c.results,
    ...(spec?.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}),
    ...(ctx.traced
      ? { traceparent: attemptTraceparent(runId, run.traceparent, c.phase, c.taskId, c.attempt) }
      : run.traceparent
        ? { traceparent: run.traceparent }
        : {}),
  };
  return {
    topic: ctx.topics.commands(queue),
    key: runId,
    value: envelope({ type: 'task.dispatch', runId, taskId: c.taskId, attempt: c.attempt, ...causationId, payload }, ctx.now),
  };
}
