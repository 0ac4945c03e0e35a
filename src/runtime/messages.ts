import { randomUUID } from 'node:crypto';
import type { RunEvent } from '../core/compile/types.js';
import type { Envelope, EnvelopeOf } from '../core/protocol/envelope.js';
import { PROTOCOL_VERSION } from '../core/protocol/envelope.js';
import type { Reuse } from '../core/run/live-run.js';

let lastMs = NaN;
let lastIso = '';

/** ISO-8601 time of `now`, formatted once per millisecond (messages are built in bursts). */
export function isoTime(now: number): string {
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/** Builds an envelope with a fresh message id and the given time. */
export function envelope(
  body: { type: Envelope['type']; runId: string; taskId?: string; attempt?: number; payload: unknown },
  now: number,
): Envelope {
  const message = body as { v?: number; id?: string; time?: string };
  message.v = PROTOCOL_VERSION;
  message.id = randomUUID();
  message.time = isoTime(now);
  return message as Envelope;
}

/** The run event an events-topic message stands for; `undefined` for a type orchestrators do not consume. */
export function toRunEvent(env: Envelope): RunEvent | undefined {
  switch (env.type) {
    case 'task.succeeded':
      return {
        type: 'TASK_SUCCEEDED',
        taskId: env.taskId,
        attempt: env.attempt,
        ...(env.payload.result === undefined ? {} : { result: env.payload.result }),
      };
    case 'task.failed':
      return { type: 'TASK_FAILED', taskId: env.taskId, attempt: env.attempt, error: env.payload.error };
    case 'timer.fired':
      return { type: 'TIMER_FIRED', timerId: env.payload.timerId };
    case 'run.cancel':
      return { type: 'CANCEL', ...(env.payload.reason ? { reason: env.payload.reason } : {}) };
    default:
      return undefined;
  }
}

/** Results reused by a rerun, as `run.start` carries them. */
export const reuseToWire = (reuse: Reuse): Record<string, unknown> => ({ succeeded: reuse.succeeded, continued: reuse.continued ?? [] });
export const reuseFromWire = (wire: Record<string, unknown>): Reuse => wire as unknown as Reuse;

/** What a `run.start` asks for. */
export interface RunStartRequest {
  readonly runId: string;
  readonly sequence: string;
  readonly version?: string;
  readonly input?: unknown;
  readonly rerunOf?: string;
  readonly reuse?: Reuse;
  /** A valid W3C `traceparent` (version 00 form). */
  readonly traceparent?: string;
}

/** The one builder of `run.start`: the message that asks the orchestrators to start a run. */
export function runStartMessage(request: RunStartRequest, now: number): EnvelopeOf<'run.start'> {
  const payload = {
    sequence: request.sequence,
    ...(request.version ? { version: request.version } : {}),
    input: request.input ?? null,
    ...(request.rerunOf ? { rerunOf: request.rerunOf } : {}),
    ...(request.reuse ? { reuse: reuseToWire(request.reuse) } : {}),
    ...(request.traceparent ? { traceparent: request.traceparent } : {}),
  };
  return envelope({ type: 'run.start', runId: request.runId, payload }, now) as EnvelopeOf<'run.start'>;
}
