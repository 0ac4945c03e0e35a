import type { TopicMessages } from 'kafkajs';
import type { TopicMessage } from '../../ports/transport.js';

/** Keeps each produce request well under the broker's default 1 MB record batch limit. */
const CHUNK_BYTES = 512 * 1024;

/**
 * Groups messages by topic for `sendBatch`, keeping their order; values are JSON text keyed by run id. Returns
 * several chunks when the messages are large, each small enough for one produce request.
 */
export function topicMessageChunks(messages: readonly TopicMessage[]): TopicMessages[][] {
  const chunks: TopicMessages[][] = [];
  let byTopic = new Map<string, TopicMessages>();
  let bytes = 0;
  for (const m of messages) {
    const value = m.value === null ? null : JSON.stringify(m.value);
    const size = (value?.length ?? 0) + m.key.length;
    if (bytes > 0 && bytes + size > CHUNK_BYTES) {
      chunks.push([...byTopic.values()]);
      byTopic = new Map();
      bytes = 0;
    }
    bytes += size;
    let group = byTopic.get(m.topic);
    if (!group) {
      group = { topic: m.topic, messages: [] };
      byTopic.set(m.topic, group);
    }
    group.messages.push({ key: m.key, value, ...(m.partition === undefined ? {} : { partition: m.partition }) });
  }
  if (byTopic.size > 0) chunks.push([...byTopic.values()]);
  return chunks;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
