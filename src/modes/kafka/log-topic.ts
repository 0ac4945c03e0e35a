import type { KafkaTransport } from '../../adapters/kafka/index.js';
import { partitionOf } from '../../adapters/kafka/index.js';
import { topicNames } from '../../core/protocol/envelope.js';
import type { LogRecordChunk } from '../../core/protocol/log-record.js';
import { logRecord, parseLogRecord } from '../../core/protocol/log-record.js';
import type { AttemptLog, AttemptLogChunk, AttemptLogFilter, AttemptLogSink, LogLine } from '../../ports/attempt-logs.js';
import { foldChunks, utf8Bytes } from '../../ports/attempt-logs.js';
import type { DurableLog, StoredMessage, TopicMessage } from '../../ports/transport.js';
import { utf8Prefix } from '../../runtime/attempt-log.js';

/** What a record's JSON may take besides its lines (the envelope fields, the key), with room to spare. */
const RECORD_OVERHEAD_BYTES = 1_024;
/** The broker's default record limit, assumed when the topic's own cannot be read. */
const DEFAULT_RECORD_BYTES = 1_048_576;

/**
 * The log topic (`<prefix>.logs`) as a sink of attempt logs: each chunk goes out as one or more `attempt.log`
 * records keyed by run id, each within the topic's record limit (a line too long for one record is cut into
 * several lines).
 */
export class LogTopic implements AttemptLogSink {
  readonly #transport: DurableLog;
  readonly #topic: string;
  #limit: Promise<number> | undefined;

  constructor(transport: DurableLog, prefix?: string) {
    this.#transport = transport;
    this.#topic = topicNames(prefix).logs;
  }

  async appendLogs(chunks: readonly AttemptLogChunk[]): Promise<void> {
    const limit = await this.#recordLimit();
    const messages: TopicMessage[] = [];
    for (const chunk of chunks) {
      for (const part of splitChunk(chunk, limit)) messages.push({ topic: this.#topic, key: chunk.runId, value: logRecord(part) });
    }
    await this.#transport.publish(messages);
  }

  #recordLimit(): Promise<number> {
    this.#limit ??= this.#transport
      .recordLimits([this.#topic])
      .then((limits) => limits.get(this.#topic) ?? DEFAULT_RECORD_BYTES)
      .catch(() => {
        this.#limit = undefined;
        return DEFAULT_RECORD_BYTES;
      });
    return this.#limit;
  }
}

/** A chunk as records of at most `limit` bytes of JSON each; only the last one keeps `truncated`. */
export function splitChunk(chunk: AttemptLogChunk, limit: number): LogRecordChunk[] {
  const room = Math.max(256, limit - RECORD_OVERHEAD_BYTES - utf8Bytes(chunk.runId) * 2 - utf8Bytes(chunk.task));
  // JSON escaping at most sextuples a character's bytes (`\u0001`): a piece this long always fits.
  const pieceBytes = Math.max(1, Math.floor(room / 6) - 64);
  const { lines: _lines, truncated, ...attempt } = chunk;
  const parts: LogRecordChunk[] = [];
  let lines: LogLine[] = [];
  let bytes = 0;
  const push = (line: LogLine) => {
    const size = utf8Bytes(JSON.stringify(line)) + 1;
    if (bytes + size > room && lines.length > 0) {
      parts.push({ ...attempt, lines });
      lines = [];
      bytes = 0;
    }
    lines.push(line);
    bytes += size;
  };
  for (const line of chunk.lines) {
    if (utf8Bytes(JSON.stringify(line)) + 1 <= room) push(line);
    else
      for (let rest = line.text; rest !== ''; ) {
        const piece = utf8Prefix(rest, pieceBytes);
        push({ ...line, text: piece });
        rest = rest.slice(piece.length);
      }
  }
  if (lines.length > 0 || truncated) parts.push({ ...attempt, lines });
  if (truncated) parts[parts.length - 1] = { ...parts[parts.length - 1]!, truncated: true };
  return parts;
}

/** Folds the log records of one run, read off the log topic, into its attempt logs. */
export function runLogsOf(records: readonly StoredMessage[], runId: string, filter?: AttemptLogFilter): AttemptLog[] {
  const chunks: AttemptLogChunk[] = [];
  for (const r of records) {
    if (r.key !== runId || r.value === null) continue;
    const parsed = parseLogRecord(r.value);
    if (parsed.success && parsed.chunk.runId === runId) chunks.push(parsed.chunk);
  }
  return foldChunks(chunks, filter);
}

/**
 * A run's attempt logs off the log topic, read from the run's partition only; none when the topic does not exist
 * (topics made before lockstep had it: `lockstep topics create` adds it).
 */
export async function readRunLogs(
  transport: KafkaTransport,
  prefix: string | undefined,
  runId: string,
  filter?: AttemptLogFilter,
): Promise<AttemptLog[]> {
  const topic = topicNames(prefix).logs;
  const partitions = (await transport.partitionCounts([topic])).get(topic);
  if (!partitions) return [];
  return runLogsOf(await transport.readPartitions(topic, [partitionOf(runId, partitions)]), runId, filter);
}
