import type { Phase } from '../core/sequence/types.js';

/** Where a log line came from: a shell task's stdout or stderr, or a handler's own `ctx.log`. */
export type LogStream = 'stdout' | 'stderr' | 'log';

/** One line an attempt wrote, without its newline, with the time it was read (ms since the epoch). */
export interface LogLine {
  readonly at: number;
  readonly stream: LogStream;
  readonly text: string;
}

/** Which attempt a log belongs to. */
export interface AttemptOfRun {
  readonly runId: string;
  readonly task: string;
  readonly attempt: number;
  readonly phase: Phase;
}

/**
 * The next lines of one attempt's log, as a writer hands them over in batches. `truncated` marks the chunk that
 * ends a log cut at its cap (its last line is the truncation marker).
 */
export interface AttemptLogChunk extends AttemptOfRun {
  readonly lines: readonly LogLine[];
  readonly truncated?: boolean;
}

/** One attempt's stored log. */
export interface AttemptLog {
  readonly task: string;
  readonly attempt: number;
  readonly phase: Phase;
  readonly lines: LogLine[];
  /** UTF-8 bytes of the stored lines' text (newlines not counted). */
  readonly bytes: number;
  /** The attempt wrote more than its cap: the last line is the truncation marker. */
  readonly truncated: boolean;
}

/** Narrows a run's logs to one task, or one attempt of it. */
export interface AttemptLogFilter {
  readonly task?: string;
  readonly attempt?: number;
}

/** Where attempts' log lines go: a run store (embedded mode), or the log topic (Kafka mode). */
export interface AttemptLogSink {
  /** Appends chunks, in order; resolves once they are stored. */
  appendLogs(chunks: readonly AttemptLogChunk[]): Promise<void>;
}

/** Reads attempts' logs back. */
export interface AttemptLogSource {
  /** The run's attempt logs in the order the attempts started (an unknown run has none). */
  attemptLogs(runId: string, filter?: AttemptLogFilter): Promise<AttemptLog[]>;
}

/** A store of attempts' logs. */
export interface AttemptLogs extends AttemptLogSink, AttemptLogSource {}

/** UTF-8 bytes of a text. */
export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/**
 * Folds chunks into attempt logs, in the order each attempt's first chunk came, keeping those `filter` selects.
 * Shared by the stores that keep chunks as they come (memory, the log topic).
 */
export function foldChunks(chunks: Iterable<AttemptLogChunk>, filter: AttemptLogFilter = {}): AttemptLog[] {
  const logs = new Map<string, { -readonly [K in keyof AttemptLog]: AttemptLog[K] }>();
  for (const chunk of chunks) {
    if (filter.task !== undefined && chunk.task !== filter.task) continue;
    if (filter.attempt !== undefined && chunk.attempt !== filter.attempt) continue;
    const key = `${chunk.task}#${chunk.attempt}`;
    let log = logs.get(key);
    if (!log) {
      log = { task: chunk.task, attempt: chunk.attempt, phase: chunk.phase, lines: [], bytes: 0, truncated: false };
      logs.set(key, log);
    }
    for (const line of chunk.lines) {
      log.lines.push({ at: line.at, stream: line.stream, text: line.text });
      log.bytes += utf8Bytes(line.text);
    }
    if (chunk.truncated) log.truncated = true;
  }
  return [...logs.values()];
}
