import { Buffer } from 'node:buffer';

/** How much longer than the result limit a stdout line may be and still be parsed (whitespace around the JSON). */
export const LINE_SLACK_BYTES = 4_096;

const CANDIDATE = /^[[{"\d-]|^(true|false|null)$/;

/** The last stdout line that could be the result: its value, or only its size when it was too long to keep. */
export type StdoutResult = { readonly value: unknown } | { readonly oversizedBytes: number } | undefined;

/**
 * Finds a shell task's result in its stdout as the output streams: the last line that parses as JSON. Every line
 * is looked at (none is dropped), and memory stays bounded: a line longer than the result limit (plus
 * {@link LINE_SLACK_BYTES}) is not kept, only measured; if it may be JSON and no later line is, the result is
 * reported as oversized, so the attempt fails naming the limit instead of succeeding without its result.
 */
export class StdoutResultFinder {
  readonly #maxLineBytes: number;
  #parts: string[] = [];
  #bytes = 0;
  /** Set once the current line is over the cap: its first characters, to tell whether it may be JSON. */
  #head: string | undefined;
  #last: StdoutResult;

  constructor(resultBytes: number) {
    this.#maxLineBytes = resultBytes + LINE_SLACK_BYTES;
  }

  /** Feeds decoded stdout text. */
  push(text: string): void {
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      this.#append(text.slice(start, nl));
      this.#endLine();
      start = nl + 1;
    }
    if (start < text.length) this.#append(text.slice(start));
  }

  /** The result once stdout has ended (a last line without a newline counts). */
  end(): StdoutResult {
    if (this.#bytes > 0) this.#endLine();
    return this.#last;
  }

  #append(piece: string): void {
    if (piece === '') return;
    this.#bytes += Buffer.byteLength(piece, 'utf8');
    if (this.#head !== undefined) return;
    this.#parts.push(piece);
    if (this.#bytes > this.#maxLineBytes) {
      this.#head = this.#parts.join('').trimStart().slice(0, 8);
      this.#parts = [];
    }
  }

  #endLine(): void {
    const bytes = this.#bytes;
    const head = this.#head;
    const line = head === undefined ? this.#parts.join('').trim() : '';
    this.#parts = [];
    this.#bytes = 0;
    this.#head = undefined;
    if (head !== undefined) {
      if (/^[[{"\d-]|^(true|false|null)/.test(head)) this.#last = { oversizedBytes: bytes };
      return;
    }
    if (line === '' || !CANDIDATE.test(line)) return;
    try {
      this.#last = { value: JSON.parse(line) as unknown };
    } catch {
      // not JSON: an earlier line may still be the result
    }
  }
}
