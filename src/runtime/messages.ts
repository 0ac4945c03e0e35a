import { randomUUID } from 'node:crypto';
import type { RunEvent } from '../core/compile/types.js';
import type { DeadLetter, Envelope } from '../core/protocol/envelope.js';
import { PROTOCOL_VERSION } from '../core/protocol/envelope.js';
import type { ConsumedMessage } from '../ports/transport.js';
import type { Reuse } from './run-state.js';

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
export function envelope(body: { type: Envelope['type']; runId: string; taskId?: string; attempt?: number; payload: unknown }, now: number): Envelope {
  const message = body as { v?: number; id?: string; time?: string };
  message.v = PROTOCOL_VERSION;
  message.id = randomUUID();
  message.time = isoTime(now);
  return message as Envelope;
}

/** The dead-letter record for a message that could not be processed. */
export function deadLetterOf(message: ConsumedMessage, reason: string, now: number): DeadLetter {
  return {
    v: PROTOCOL_VERSION, type: 'dead-letter', reason, raw: message.raw ?? JSON.stringify(message.value),
    source: { topic: message.topic, partition: message.partition, offset: message.offset }, time: isoTime(now),
  };
}

/** The run event an events-topic message stands for; `undefined` for a type orchestrators do not consume. */
export function toRunEvent(env: Envelope): RunEvent | undefined {
  switch (env.type) {
    case 'task.succeeded':
      return { type: 'TASK_SUCCEEDED', taskId: env.taskId, attempt: env.attempt, ...(env.payload.result === undefined ? {} : { result: env.payload.result }) };
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

