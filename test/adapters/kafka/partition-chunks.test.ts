// A transaction's output is split by partition, one sendBatch per partition: each record goes where kafkajs'
// producer would have sent it (its own partition, else its key's), in order, and chunks keep the records they hold.
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { mergeChunks, partitionChunks } from '../../../src/adapters/kafka/encoding.js';
import type { TopicMessage } from '../../../src/ports/transport.js';

const COUNTS = new Map([
  ['events', 6],
  ['commands', 4],
  ['history', 3],
]);

/** The partition kafkajs' own producer gives a keyed record of a topic with `count` partitions. */
const kafkajsPartition = (topic: string, key: string, count: number): number =>
  kafkajs.Partitioners.DefaultPartitioner()({
    topic,
    partitionMetadata: Array.from({ length: count }, (_, partitionId) => ({
      partitionId,
      leader: partitionId,
      partitionErrorCode: 0,
      replicas: [],
      isr: [],
    })),
    message: { key, value: null },
  });

const records = (): TopicMessage[] =>
  Array.from({ length: 60 }, (_, i) => ({
    topic: ['events', 'commands', 'history'][i % 3]!,
    key: `run-${i % 17}`,
    value: null,
  }));

/** Every chunk's single topic and partition, with the records it holds. */
const sent = (chunks: ReturnType<typeof partitionChunks>) =>
  chunks.flat().map((chunk) => {
    expect(chunk.topicMessages).toHaveLength(1);
    const [{ topic, messages }] = chunk.topicMessages as unknown as [
      { topic: string; messages: Array<{ partition?: number; key?: unknown }> },
    ];
    const partitions = new Set(messages.map((m) => m.partition));
    expect(partitions.size).toBe(1);
    expect(messages.map((m) => m.key)).toEqual(chunk.records.map((r) => r.key));
    return { topic, partition: [...partitions][0]!, records: chunk.records };
  });

describe('partitionChunks', () => {
  it('sends each record alone to the partition kafkajs would pick, one partition per group, in order', () => {
    const input = records();
    const groups = partitionChunks(input, COUNTS, 512 * 1024, false);
    const seen = new Set<string>();
    for (const group of groups) {
      const parts = sent([group]);
      const ids = new Set(parts.map((p) => `${p.topic}:${p.partition}`));
      expect(ids.size).toBe(1);
      const id = [...ids][0]!;
      expect(seen.has(id)).toBe(false);
      seen.add(id);
    }
    const all = sent(groups);
    for (const { topic, partition, records: held } of all)
      for (const r of held) expect(partition).toBe(kafkajsPartition(topic, r.key, COUNTS.get(topic)!));
    // The very records (onRejected tells its handler which one the broker refused), each once, in their order per partition.
    const out = all.flatMap((p) => p.records);
    expect(new Set(out)).toEqual(new Set(input));
    expect(out).toHaveLength(input.length);
    for (const id of seen) {
      const [topic, partition] = id.split(':');
      const expected = input.filter((r) => r.topic === topic && kafkajsPartition(topic!, r.key, COUNTS.get(topic!)!) === Number(partition));
      expect(all.filter((p) => `${p.topic}:${p.partition}` === id).flatMap((p) => p.records)).toEqual(expected);
    }
  });

  it('keeps a record its own partition, and does not need the count of its topic then', () => {
    const record: TopicMessage = { topic: 'runs', key: 'p-3', value: null, partition: 3 };
    const [part] = sent(partitionChunks([record], new Map(), 1024, false));
    expect(part).toEqual({ topic: 'runs', partition: 3, records: [record] });
  });

  it('splits a partition into chunks of at most the given bytes, or one record each when isolating', () => {
    const big = Array.from({ length: 10 }, (): TopicMessage => ({ topic: 'runs', key: 'k', value: null, partition: 0 }));
    expect(partitionChunks(big, COUNTS, 1, false)[0]).toHaveLength(10);
    expect(partitionChunks(big, COUNTS, 1024 * 1024, false)[0]).toHaveLength(1);
    expect(partitionChunks(records(), COUNTS, 1024 * 1024, true).flat()).toHaveLength(60);
  });

  it('names a topic whose partitions it does not know', () => {
    expect(() => partitionChunks([{ topic: 'unknown', key: 'k', value: null }], COUNTS, 1024, false)).toThrow(/unknown/);
  });

  it("merges the first chunk of each partition into one request: each partition's messages in order, each once", () => {
    const parts = partitionChunks(records(), COUNTS, 512 * 1024, false);
    const merged = mergeChunks(parts.map((chunks) => chunks[0]!));
    expect(merged.records).toHaveLength(60);
    expect(merged.bytes).toBe(parts.reduce((n, chunks) => n + chunks[0]!.bytes, 0));
    expect(merged.topicMessages.map((t) => t.topic).sort()).toEqual(['commands', 'events', 'history']);
    for (const { topic, messages } of merged.topicMessages) {
      const byPartition = new Map<number, Array<{ key?: unknown }>>();
      for (const m of messages) byPartition.set(m.partition!, [...(byPartition.get(m.partition!) ?? []), m]);
      for (const [partition, held] of byPartition) {
        const expected = records().filter((r) => r.topic === topic && kafkajsPartition(topic, r.key, COUNTS.get(topic)!) === partition);
        expect(held.map((m) => m.key)).toEqual(expected.map((r) => r.key));
      }
    }
  });
});
