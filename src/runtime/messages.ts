import { randomUUID } from 'node:crypto';
import type { DeadLetter, Envelope } from '../core/protocol/envelope.js';
import { PROTOCOL_VERSION } from '../core/protocol/envelope.js';
import type { ConsumedMessage } from '../ports/transport.js';

/** Builds an envelope with a fresh message id and the given time. */
export function envelope(body: { type: Envelope['type']; runId: string; taskId?: string; attempt?: number; payload: unknown }, now: number): Envelope {
  return { v: PROTOCOL_VERSION, id: randomUUID(), time: new Date(now).toISOString(), ...body } as Envelope;
}

/** The dead-letter record for a message that could not be processed. */
export function deadLetterOf(message: ConsumedMessage, reason: string, now: number): DeadLetter {
  return {
    v: PROTOCOL_VERSION, type: 'dead-letter', reason, raw: message.raw ?? JSON.stringify(message.value),
    source: { topic: message.topic, partition: message.partition, offset: message.offset }, time: new Date(now).toISOString(),
  };
}
