import type { Transaction } from 'kafkajs';
import type { Chunk } from './encoding.js';
import { mergeChunks } from './encoding.js';
import { isRecordRejection } from './kafka-client.js';
import type { BrokerSends } from './transactional-producer.js';
import { isLeaderMoved } from './transactional-producer.js';

/** The largest Produce request made of several partitions' chunks: far under brokers' socket.request.max.bytes (100 MiB). */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/** What {@link sendOutput} tells its caller besides the error it throws. */
export interface OutputEvents {
  /** A chunk of one partition a broker refused for good (too large, invalid). */
  refused(chunk: Chunk): void;
  /**
   * A request to several partitions failed: some of them may hold its records while kafkajs counts them as not
   * sent. The transaction may be aborted, but not run again with this producer (its sequence numbers are behind).
   */
  partial(): void;
}

/**
 * Sends a transaction's output: `parts` holds each topic partition's chunks (see `partitionChunks`), sent in order.
 *
 * With `brokers`, the partitions one broker leads go together, one Produce request per broker (and per round of
 * chunks, when a partition has several), pinned to that broker so that no kafkajs retry reaches another one; the
 * brokers at once. Each broker then gets one AddPartitionsToTxn and one Produce per transaction, not one of each
 * per partition (kafkajs sends one partition's after the other's, under a lock per broker). When such a request
 * is stopped because a leader moved, or refused because of a record, what it had left goes one partition per
 * `sendBatch`, in the same transaction, as kafkajs would have retried it: with the same sequence numbers, so that
 * a broker drops what it already wrote, and a refused record is refused again with its partition's chunk alone.
 *
 * Without `brokers` (kafkajs internals not as expected, or records to isolate), or when a partition's leader is
 * not known, each partition has `sendBatch` calls of its own, partitions at once.
 *
 * Every send settles before this returns or throws: no produce of the transaction is still in flight then. A
 * record refused for good is the error thrown, whatever else failed with it.
 */
export async function sendOutput(
  txn: Transaction,
  parts: readonly (readonly Chunk[])[],
  brokers: BrokerSends | undefined,
  events: OutputEvents,
): Promise<void> {
  const produce = (chunk: Chunk) => txn.sendBatch({ topicMessages: chunk.topicMessages, acks: -1 });
  const sendPart = async (chunks: readonly Chunk[], from: number): Promise<void> => {
    for (let i = from; i < chunks.length; i++) {
      try {
        await produce(chunks[i]!);
      } catch (error) {
        if (isRecordRejection(error)) events.refused(chunks[i]!);
        throw error;
      }
    }
  };
  const groups = brokers ? byLeader(parts, brokers) : undefined;
  if (!brokers || !groups) return settle(parts.map((chunks) => sendPart(chunks, 0)));
  return settle(
    [...groups].map(async ([leader, group]) => {
      const next = group.map(() => 0); // each partition's next chunk
      const sendTogether = async (members: readonly number[]): Promise<void> => {
        await produce(mergeChunks(members.map((i) => group[i]![next[i]!]!)));
        for (const i of members) next[i]!++;
      };
      try {
        await brokers.pinned(leader, async () => {
          for (;;) {
            const round = group.flatMap((chunks, i) => (next[i]! < chunks.length ? [i] : []));
            if (round.length === 0) return;
            let members: number[] = [];
            let bytes = 0;
            for (const i of round) {
              const size = group[i]![next[i]!]!.bytes;
              if (members.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
                await sendTogether(members);
                members = [];
                bytes = 0;
              }
              members.push(i);
              bytes += size;
            }
            await sendTogether(members);
          }
        });
      } catch (error) {
        if (group.length > 1) events.partial();
        if (!isLeaderMoved(error) && !isRecordRejection(error)) throw error;
        await settle(group.map((chunks, i) => sendPart(chunks, next[i]!)));
      }
    }),
  );
}

/** The partitions' chunks by the broker leading each, or undefined when a leader is not known. */
function byLeader(parts: readonly (readonly Chunk[])[], brokers: BrokerSends): Map<number, (readonly Chunk[])[]> | undefined {
  const groups = new Map<number, (readonly Chunk[])[]>();
  for (const chunks of parts) {
    const first = chunks[0]?.topicMessages[0];
    const partition = first?.messages[0]?.partition;
    if (first === undefined || partition === undefined) return undefined;
    const leader = brokers.leader(first.topic, partition);
    if (leader === undefined) return undefined;
    const group = groups.get(leader);
    if (group) group.push(chunks);
    else groups.set(leader, [chunks]);
  }
  return groups;
}

/** Waits for all, then throws the first record refused for good, else the first failure. */
async function settle(sends: readonly Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(sends))
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => r.reason as unknown);
  if (failed.length > 0) throw failed.find((e) => isRecordRejection(e)) ?? failed[0];
}
