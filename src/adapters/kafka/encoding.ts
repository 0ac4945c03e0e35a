import type { TopicMessages } from 'kafkajs';
import type { TopicMessage } from '../../ports/transport.js';
import { RECORD_OVERHEAD_BYTES } from './topic-admin.js';

/** Keeps each produce request well under the broker's default 1 MB record batch limit. */
export const CHUNK_BYTES = 512 * 1024;

/** Messages for one `sendBatch`, grouped by topic, and the records they came from (to tell which one a broker refused). */
export interface Chunk {
  readonly topicMessages: TopicMessages[];
  readonly records: readonly TopicMessage[];
}

/**
 * Groups messages by topic for `sendBatch`, keeping their order; values are JSON text keyed by run id. Returns
 * several chunks when the messages are large, each at most `maxBytes` (keys, values and record framing, in UTF-8
 * bytes) unless one record alone is larger, so that a batch to one partition never exceeds its topic's limit.
 */
export function topicMessageChunks(messages: readonly TopicMessage[], maxBytes = CHUNK_BYTES): Chunk[] {
  const chunks: Chunk[] = [];
  let byTopic = new Map<string, TopicMessages>();
  let records: TopicMessage[] = [];
  let bytes = 0;
  const close = () => {
    if (records.length > 0) chunks.push({ topicMessages: [...byTopic.values()], records });
    byTopic = new Map();
    records = [];
    bytes = 0;
  };
  for (const m of messages) {
    const value = m.value === null ? null : JSON.stringify(m.value);
    const size = (value === null ? 0 : Buffer.byteLength(value)) + Buffer.byteLength(m.key) + RECORD_OVERHEAD_BYTES;
    if (bytes > 0 && bytes + size > maxBytes) close();
    bytes += size;
    records.push(m);
    let group = byTopic.get(m.topic);
    if (!group) {
      group = { topic: m.topic, messages: [] };
      byTopic.set(m.topic, group);
    }
    group.messages.push({ key: m.key, value, ...(m.partition === undefined ? {} : { partition: m.partition }) });
  }
  close();
  return chunks;
}

/** One chunk per record: to find the record a broker refused in a chunk it refused. */
export function singleRecordChunks(messages: readonly TopicMessage[]): Chunk[] {
  return messages.flatMap((m) => topicMessageChunks([m]));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
