import { format } from 'node:util';
import type { AttemptLogChunk, AttemptLogSink, AttemptOfRun, LogLine, LogStream } from '../ports/attempt-logs.js';
import { utf8Bytes } from '../ports/attempt-logs.js';
import type { Clock } from '../ports/clock.js';

/**
 * How much of an attempt's output lockstep keeps by default: 1 MiB of line text (UTF-8, newlines not counted).
 * What comes after is counted, not kept, and the log ends with a {@link truncationMarker} line.
 */
export const DEFAULT_LOG_BYTES = 1_048_576;
/** A line longer than this is cut into lines of this length, so one endless line never fills memory. */
export const MAX_LOG_LINE_BYTES = 65_536;
/** A batch is handed to the sink once it has this many lines, or {@link FLUSH_MS} after its first line. */
const FLUSH_LINES = 256;
const FLUSH_MS = 100;
/** How long the end of an attempt waits for its last batch before it gives the log up (a sink that hangs). */
const CLOSE_TIMEOUT_MS = 10_000;

/** The last line of a log cut at its cap. */
export function truncationMarker(capBytes: number, droppedBytes: number): string {
  return `… [lockstep: output truncated after ${capBytes} bytes; ${droppedBytes} bytes dropped]`;
}

/** Options of an {@link AttemptLogWriter}. */
export interface AttemptLogOptions {
  readonly sink: AttemptLogSink;
  readonly clock: Clock;
  /** @default {@link DEFAULT_LOG_BYTES} */
  readonly capBytes?: number;
  /**
   * Told once when the sink fails (a full disk, a broker that refuses records): the rest of the attempt's log is
   * dropped, and the attempt itself goes on and ends as it would have.
   */
  readonly onError?: (error: unknown) => void;
  /** How long {@link AttemptLogWriter.close} waits for the sink before it gives the log up. @default 10 s */
  readonly closeTimeoutMs?: number;
}

/**
 * One attempt's log on its way to a sink: lines are batched (by count and time), kept up to the cap, and
 * flushed in order. {@link close} resolves once everything is handed over (or given up), so that the attempt's
 * outcome is reported only after its log is stored.
 */
export class AttemptLogWriter {
  readonly #attempt: AttemptOfRun;
  readonly #options: AttemptLogOptions;
  readonly #cap: number;
  #pending: LogLine[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushed: Promise<void> = Promise.resolve();
  #kept = 0;
  #dropped = 0;
  #failed = false;
  #closed = false;
  /** Whether a chunk went to the sink: an attempt that wrote nothing ends without waiting. */
  #sent = false;

  constructor(attempt: AttemptOfRun, options: AttemptLogOptions) {
    this.#attempt = attempt;
    this.#options = options;
    this.#cap = options.capBytes ?? DEFAULT_LOG_BYTES;
  }

  /** Writes text as lines (split at newlines; a trailing newline ends the last one). */
  write(stream: LogStream, text: string): void {
    if (this.#closed) return;
    const lines = text.split('\n');
    if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
    for (const line of lines) for (const piece of pieces(line)) this.#line(stream, piece);
  }

  /** Writes a handler's log call: its arguments formatted like `console.log`. */
  log(...args: unknown[]): void {
    this.write('log', format(...args));
  }

  /** Adds the truncation marker when the cap cut the log, flushes, and waits for the sink (at most `closeTimeoutMs`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const truncated = this.#dropped > 0;
    if (truncated && !this.#failed) this.#pending.push(this.#stamp('log', truncationMarker(this.#cap, this.#dropped)));
    this.#flush(truncated);
    if (!this.#sent) return;
    let timer: NodeJS.Timeout | undefined;
    const waitMs = this.#options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#fail(new Error(`the log of ${this.#name()} was not stored within ${waitMs} ms`));
        resolve();
      }, waitMs);
    });
    await Promise.race([this.#flushed, timeout]);
    clearTimeout(timer);
  }

  #line(stream: LogStream, text: string): void {
    if (this.#failed) return;
    const bytes = utf8Bytes(text);
    const room = this.#cap - this.#kept;
    if (bytes > room) {
      if (room > 0) {
        const kept = utf8Prefix(text, room);
        if (kept !== '') this.#push(stream, kept);
        this.#dropped += bytes - utf8Bytes(kept);
        this.#kept = this.#cap;
      } else this.#dropped += bytes;
      return;
    }
    this.#kept += bytes;
    this.#push(stream, text);
  }

  #push(stream: LogStream, text: string): void {
    this.#pending.push(this.#stamp(stream, text));
    if (this.#pending.length >= FLUSH_LINES) this.#flush(false);
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#flush(false), FLUSH_MS);
      this.#timer.unref();
    }
  }

  #stamp(stream: LogStream, text: string): LogLine {
    return { at: this.#options.clock.now(), stream, text };
  }

  #flush(truncated: boolean): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#failed || (this.#pending.length === 0 && !truncated)) return;
    const chunk: AttemptLogChunk = { ...this.#attempt, lines: this.#pending, ...(truncated ? { truncated: true } : {}) };
    this.#pending = [];
    this.#sent = true;
    this.#flushed = this.#flushed.then(() =>
      this.#failed ? undefined : this.#options.sink.appendLogs([chunk]).catch((error) => this.#fail(error)),
    );
  }

  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#pending = [];
    this.#options.onError?.(error);
  }

  #name(): string {
    const { runId, task, attempt } = this.#attempt;
    return `run ${runId} task "${task}" attempt ${attempt}`;
  }
}

/** A line cut into pieces of at most {@link MAX_LOG_LINE_BYTES}. */
function pieces(line: string): string[] {
  if (line.length * 3 <= MAX_LOG_LINE_BYTES || utf8Bytes(line) <= MAX_LOG_LINE_BYTES) return [line];
  const out: string[] = [];
  let rest = line;
  while (rest !== '') {
    const piece = utf8Prefix(rest, MAX_LOG_LINE_BYTES);
    out.push(piece);
    rest = rest.slice(piece.length);
  }
  return out;
}

/** The longest prefix of `text` of at most `bytes` UTF-8 bytes that does not split a character. */
export function utf8Prefix(text: string, bytes: number): string {
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= bytes) return text;
  let end = bytes;
  // Back off continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && (buffer[end]! & 0xc0) === 0x80) end--;
  return buffer.subarray(0, end).toString('utf8');
}
