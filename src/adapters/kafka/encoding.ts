import type { TopicMessages } from 'kafkajs';
import type { TopicMessage } from '../../ports/transport.js';

/** Groups messages by topic for one `sendBatch`, keeping their order; values are JSON text keyed by run id. */
export function topicMessages(messages: readonly TopicMessage[]): TopicMessages[] {
  const byTopic = new Map<string, TopicMessages>();
  for (const m of messages) {
    let group = byTopic.get(m.topic);
    if (!group) {
      group = { topic: m.topic, messages: [] };
      byTopic.set(m.topic, group);
    }
    group.messages.push({ key: m.key, value: JSON.stringify(m.value) });
  }
  return [...byTopic.values()];
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
