import type { Admin } from 'kafkajs';
import type { PartitionLag } from '../../ports/metrics.js';

/**
 * The lag of a consumer group on each partition of a topic: the log end offset minus the group's committed offset
 * (a partition the group never committed lags by all it holds). Two admin requests, nothing retried: a scrape
 * wants an answer now or none.
 */
export async function consumerLag(admin: Admin, topic: string, group: string): Promise<PartitionLag[]> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: group, topics: [topic] })]);
  const offsets = new Map((committed[0]?.partitions ?? []).map((c) => [c.partition, BigInt(c.offset)]));
  return ends
    .map((end) => {
      const at = offsets.get(end.partition) ?? -1n;
      const from = at < 0n ? BigInt(end.low) : at;
      const lag = BigInt(end.high) - from;
      return { topic, partition: end.partition, group, lag: Number(lag > 0n ? lag : 0n) };
    })
    .sort((a, b) => a.partition - b.partition);
}
