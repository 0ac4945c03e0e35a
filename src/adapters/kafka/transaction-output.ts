import type { Transaction } from 'kafkajs';
import type { Chunk } from './encoding.js';
import { mergeChunks } from './encoding.js';
import { isRecordRejection } from './kafka-client.js';
import type { BrokerSends } from './transactional-producer.js';
import { isLeaderMoved } from './transactional-producer.js';

/** The largest Produce request made of several partitions' chunks: far under brokers' socket.request.max.bytes (100 MiB). */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024;

/**
 * Sends a transaction's output: `parts` holds each topic partition's chunks (see `partitionChunks`), sent in order.
 *
 * With `brokers`, the partitions one broker leads go together, one Produce request per broker (and per round of
 * chunks, when a partition has several), pinned to that broker so that no kafkajs retry reaches another one; the
 * brokers at once. Each broker then gets one AddPartitionsToTxn and one Produce per transaction, not one of each
 * per partition (kafkajs sends one partition's after the other's, under a lock per broker). A leader that moves
 * between two attempts of a pinned request stops it before it sends again: what it had left goes one partition
 * per `sendBatch`, as kafkajs would have retried it (same sequence numbers), one broker each.
 *
 * Without `brokers` (kafkajs internals not as expected, metadata not loaded yet, or records to isolate), or when
 * a partition's leader is not known, each partition has `sendBatch` calls of its own, partitions at once.
 *
 * Every send settles before this returns or throws: no produce of the transaction is still in flight then. A
 * record refused for good is the error thrown, whatever else failed with it; `refused` is told its chunk.
 */
export async function sendOutput(
  txn: Transaction,
  parts: readonly (readonly Chunk[])[],
  brokers: BrokerSends | undefined,
  refused: (chunk: Chunk) => void,
): Promise<void> {
  const send = async (chunk: Chunk): Promise<void> => {
    try {
      await txn.sendBatch({ topicMessages: chunk.topicMessages, acks: -1 });
    } catch (error) {
      if (isRecordRejection(error)) refused(chunk);
      throw error;
    }
  };
  const sendPart = async (chunks: readonly Chunk[], from: number): Promise<void> => {
    for (let i = from; i < chunks.length; i++) await send(chunks[i]!);
  };
  const groups = brokers ? byLeader(parts, brokers) : undefined;
  if (!brokers || !groups) return settle(parts.map((chunks) => sendPart(chunks, 0)));
  return settle(
    [...groups].map(async ([leader, group]) => {
      const next = group.map(() => 0); // each partition's next chunk
      const sendTogether = async (members: readonly number[]): Promise<void> => {
        await send(mergeChunks(members.map((i) => group[i]![next[i]!]!)));
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
        if (!isLeaderMoved(error)) throw error;
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
