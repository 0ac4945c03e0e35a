import type { RunEvent } from '../core/compile/types.js';
import { sha256Hex } from '../core/hash.js';
import type { DeadLetter } from '../core/protocol/envelope.js';
import { PROTOCOL_VERSION } from '../core/protocol/envelope.js';
import { formatBytes } from '../core/sequence/limits.js';
import type { DeadLetterSource, TopicMessage } from '../ports/transport.js';
import { isoTime } from './messages.js';

/** How much of a rejected record's text a dead letter keeps, at most (UTF-8 bytes). */
export const DEAD_LETTER_RAW_BYTES = 16 * 1024;
/** How long a dead letter's reason may be, at most (characters). */
export const DEAD_LETTER_REASON_CHARS = 2_000;
/** Dead-letter keys longer than this are replaced by `sha256:<hex>` of the key. */
const DEAD_LETTER_KEY_CHARS = 256;

/**
 * Bounds of text that producers outside lockstep put into a run's state: a task failure's message, output, code
 * and type, and a cancel's reason. Longer text is cut, saying how much was left out, so that only the results and
 * the input can make a state grow large.
 */
export const EVENT_TEXT_CHARS = { message: 8_192, output: 16_384, code: 200, type: 200, reason: 1_024 } as const;

/** A record's size as the limit counts it: the UTF-8 bytes of its key and its JSON value. */
export function recordBytes(m: TopicMessage): number {
  return Buffer.byteLength(m.key) + (m.value === null ? 0 : Buffer.byteLength(JSON.stringify(m.value)));
}

/** The reason a record cannot be written: `task.dispatch record of ... is 1,200,345 bytes, over the 1,048,332-byte limit of <topic>`. */
export function tooLarge(what: string, bytes: number, limit: number, topic: string): string {
  return `${what} is ${formatBytes(bytes)} bytes, over the ${formatBytes(limit)}-byte limit of ${topic}`;
}

/** Cuts text to `max` characters, saying how many were left out. */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const note = `... (${formatBytes(text.length - max)} more characters)`;
  return text.slice(0, Math.max(0, max - note.length)) + note;
}

/** The longest start of `text` that takes at most `maxBytes` in UTF-8, never splitting a character. */
export function utf8Prefix(text: string, maxBytes: number): string {
  let head = text.slice(0, maxBytes);
  if (Buffer.byteLength(head) > maxBytes) {
    head = Buffer.from(head).subarray(0, maxBytes).toString('utf8');
    // A character cut in two decodes as U+FFFD: drop it.
    while (head.length > 0 && !text.startsWith(head)) head = head.slice(0, -1);
  }
  const last = head.charCodeAt(head.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? head.slice(0, -1) : head;
}

/**
 * The dead-letter record of a text that could not be processed: the reason and the start of the text (at most
 * {@link DEAD_LETTER_RAW_BYTES}), with the whole text's size and sha256. Both are cut further when the record
 * would not fit `limit` (key and value bytes), so that it always does.
 */
export function deadLetterRecord(topic: string, source: DeadLetterSource, reason: string, now: number, limit = Infinity): TopicMessage {
  const { raw } = source;
  const key = source.key === null ? 'unknown' : source.key.length > DEAD_LETTER_KEY_CHARS ? `sha256:${sha256Hex(source.key)}` : source.key;
  const whole = { rawBytes: Buffer.byteLength(raw), rawSha256: sha256Hex(raw) };
  // Neither part can take more than the whole limit: start there, and halve both until the record fits.
  let keep = Math.min(DEAD_LETTER_RAW_BYTES, limit);
  let chars = Math.max(120, Math.min(DEAD_LETTER_REASON_CHARS, limit));
  for (; ; keep = keep < 64 ? 0 : keep >> 1, chars = Math.max(120, chars >> 1)) {
    const prefix = utf8Prefix(raw, keep);
    const value: DeadLetter = {
      v: PROTOCOL_VERSION,
      type: 'dead-letter',
      reason: cut(reason, chars),
      raw: prefix,
      ...whole,
      rawTruncated: prefix.length < raw.length,
      source: { topic: source.topic, partition: source.partition, offset: source.offset },
      time: isoTime(now),
    };
    const record: TopicMessage = { topic, key, value };
    if ((keep === 0 && chars === 120) || recordBytes(record) <= limit) return record;
  }
}

/** An event with the text producers put into it cut to {@link EVENT_TEXT_CHARS}. */
export function boundedEvent(event: RunEvent): RunEvent {
  if (event.type === 'CANCEL' && event.reason !== undefined && event.reason.length > EVENT_TEXT_CHARS.reason) {
    return { ...event, reason: cut(event.reason, EVENT_TEXT_CHARS.reason) };
  }
  if (event.type !== 'TASK_FAILED') return event;
  const e = event.error;
  const long = (Object.keys(EVENT_TEXT_CHARS) as Array<keyof typeof EVENT_TEXT_CHARS>).some(
    (k) => k !== 'reason' && typeof e[k as keyof typeof e] === 'string' && (e[k as keyof typeof e] as string).length > EVENT_TEXT_CHARS[k],
  );
  if (!long) return event;
  const error = {
    ...e,
    message: cut(e.message, EVENT_TEXT_CHARS.message),
    ...(e.output === undefined ? {} : { output: cut(e.output, EVENT_TEXT_CHARS.output) }),
    ...(e.code === undefined ? {} : { code: cut(e.code, EVENT_TEXT_CHARS.code) }),
    ...(e.type === undefined ? {} : { type: cut(e.type, EVENT_TEXT_CHARS.type) }),
  };
  return { ...event, error };
}

/**
 * The record limit of each topic an orchestrator writes to, as its transport said when it started (a topic not
 * among them gets the smallest); none at all over a transport without limits (the in-process one).
 */
export class TopicLimits {
  readonly #limits: ReadonlyMap<string, number> | undefined;
  readonly #fallback: number;

  constructor(limits?: ReadonlyMap<string, number>) {
    this.#limits = limits;
    this.#fallback = limits && limits.size > 0 ? Math.min(...limits.values()) : Infinity;
  }

  /** The largest record `topic` accepts (key and value bytes); Infinity without limits. */
  limitOf(topic: string): number {
    return this.#limits?.get(topic) ?? this.#fallback;
  }

  /** Why `record` cannot be written (`<what> is N bytes, over the L-byte limit of <topic>`), or undefined when it fits. */
  oversized(record: TopicMessage, what: string): string | undefined {
    const limit = this.limitOf(record.topic);
    if (limit === Infinity) return undefined;
    const bytes = recordBytes(record);
    return bytes <= limit ? undefined : tooLarge(what, bytes, limit, record.topic);
  }
}
