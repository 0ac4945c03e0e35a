import { randomUUID } from 'node:crypto';
import type { DeadLetter, Envelope } from '../core/protocol/envelope.js';
import { PROTOCOL_VERSION } from '../core/protocol/envelope.js';
import type { ConsumedMessage } from '../ports/transport.js';

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
