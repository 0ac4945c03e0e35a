// lockstep's murmur2 picks the partitions kafkajs' DefaultPartitioner (and Java clients) pick, for every key:
// ASCII and not, every length mod 4, strings and buffers; the producers' partitioner too, keyed or not.
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { producerConfig } from '../../../src/adapters/kafka/kafka-client.js';
import { keyPartition } from '../../../src/adapters/kafka/murmur2.js';

const metadata = (count: number) =>
  Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));

/** Keys from a fixed seed: run ids, short and long ASCII, and text with multi-byte characters. */
function keys(): string[] {
  let seed = 42;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const alphabet = 'abcXYZ019-_ .é€😀\u0000\u007f\u0080';
  const out = ['', 'a', 'ab', 'abc', 'abcd', crypto.randomUUID()];
  for (let n = 0; n < 5000; n++) {
    let key = '';
    for (let i = 0, length = next() % 64; i < length; i++)
      key += n % 3 === 0 ? alphabet[next() % alphabet.length] : String.fromCharCode(32 + (next() % 95));
    out.push(key);
  }
  return out;
}

describe('murmur2', () => {
  it("gives every key kafkajs' partition, from its text or its bytes", () => {
    const kafkajsPick = kafkajs.Partitioners.DefaultPartitioner();
    for (const count of [1, 3, 8, 12]) {
      const partitionMetadata = metadata(count);
      for (const key of keys()) {
        const expected = kafkajsPick({ topic: 't', partitionMetadata, message: { key, value: null } });
        expect(keyPartition(key, count)).toBe(expected);
        expect(keyPartition(Buffer.from(key), count)).toBe(expected);
      }
    }
  });

  it("is the producers' partitioner: a record's own partition first, then its key's, else round robin", () => {
    const pick = producerConfig().createPartitioner!();
    const partitionMetadata = metadata(6);
    const kafkajsPick = kafkajs.Partitioners.DefaultPartitioner();
    for (const key of keys().slice(0, 500)) {
      const message = { key, value: null };
      expect(pick({ topic: 't', partitionMetadata, message })).toBe(kafkajsPick({ topic: 't', partitionMetadata, message }));
    }
    expect(pick({ topic: 't', partitionMetadata, message: { key: 'k', partition: 4, value: null } })).toBe(4);
    const unkeyed = new Set(Array.from({ length: 12 }, () => pick({ topic: 't', partitionMetadata, message: { value: null } })));
    expect(unkeyed.size).toBe(6);
  });
});
