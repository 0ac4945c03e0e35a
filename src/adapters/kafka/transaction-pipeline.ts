import type { Admin, Producer } from 'kafkajs';
import type { DurableSubscribeOptions, TopicMessage } from '../../ports/transport.js';
import type { Chunk } from './encoding.js';
import { partitionChunks, partitionCountCache, sleep } from './encoding.js';
import { isFenced, isRecordRejection, kafkaErrorTypes, transportError } from './kafka-client.js';
import { sendOutput } from './transaction-output.js';
import { brokerSends } from './transactional-producer.js';

/** Handled messages waiting for their transaction, per partition, before consumption waits for a commit. */
const MAX_PENDING = 20_000;
/** Errors before the commit that leave nothing committed: the transaction is aborted and run again. */
const RETRIABLE_TXN = new Set([
  'CONCURRENT_TRANSACTIONS',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR',
  'UNKNOWN_TOPIC_OR_PARTITION',
]);
const MAX_TXN_ATTEMPTS = 10;

/** A batch handled but not committed yet: the handler's output, and the offset of its last message. */
interface HandledBatch {
  readonly out: readonly TopicMessage[];
  readonly lastOffset: string;
  readonly size: number;
}

/** One owned partition: its transactional producer, and batches handled but not committed yet. */
export interface Pipe {
  readonly partition: number;
  readonly producer: Producer;
  pending: HandledBatch[];
  pendingSize: number;
  /** The commit loop, while it runs. */
  committing: Promise<void> | undefined;
  /** The handler call in flight (one at a time per partition). */
  handling: Promise<unknown> | undefined;
  /** Set when a handler or a commit failed: nothing more goes through this pipe. */
  broken: boolean;
  /** Next offset after the last batch handled. */
  handled: string;
  /** Offset records only: when the group offset was last committed as a hint, and the next hint, if one waits. */
  hintedAt: number;
  hint: string | undefined;
  /** Offset records only: the offset the last committed transaction recorded. */
  committed: string | undefined;
}

/** The offset after `offset`: where consumption goes on once it is handled. */
export const nextOffset = (offset: string): string => (BigInt(offset) + 1n).toString();

/** The pipe of a partition just taken over, its producer already fenced in: nothing handled yet. */
export function openPipe(partition: number, producer: Producer): Pipe {
  return {
    partition,
    producer,
    pending: [],
    pendingSize: 0,
    committing: undefined,
    handling: undefined,
    broken: false,
    handled: '0',
    hintedAt: 0,
    hint: undefined,
    committed: undefined,
  };
}

/** What the pipeline needs from its subscription. */
export interface PipelineDeps {
  readonly admin: () => Promise<Admin>;
  readonly options: DurableSubscribeOptions;
  readonly log: (message: string, extra?: Record<string, unknown>) => void;
  /** The largest produce chunk, in bytes: no record batch to one partition may exceed its topic's limit. */
  readonly chunkBytes: () => number;
  /** Offset records only: a transaction committed the partition up to `offset`. */
  readonly recorded: (pipe: Pipe, offset: string) => void;
  /** A transaction failed (`fenced`: another member owns the partition now): its batches must be delivered again. */
  readonly failed: (pipe: Pipe, fenced: boolean) => void;
}

/**
 * The transactions of a subscription's partitions: each partition's handled batches, its output and its consumer
 * offset, commit in one transaction of the partition's own producer.
 *
 * Commits are pipelined: while a partition's transaction is in flight, its next batches are already handled,
 * and they commit together in the next transaction (group commit), never before the earlier one.
 */
export class TransactionPipeline {
  readonly #deps: PipelineDeps;
  /** Partitions whose last transaction was refused by the broker: their next one sends each record alone, to tell which. */
  readonly #isolate = new Set<number>();
  /** Partitions of each topic the output goes to: to send each partition's records on their own. */
  readonly #counts: ReturnType<typeof partitionCountCache>;

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
    this.#counts = partitionCountCache(deps.admin);
  }

  /** Waits while too many handled messages of the partition wait for their transaction. */
  async room(pipe: Pipe): Promise<void> {
    while (pipe.pendingSize > MAX_PENDING && pipe.committing && !pipe.broken) await pipe.committing;
  }

  /** Queues a handled batch for the partition's next transaction, and starts its commit loop unless it runs. */
  add(pipe: Pipe, batch: HandledBatch): void {
    pipe.pending.push(batch);
    pipe.pendingSize += batch.size;
    if (!pipe.committing) pipe.committing = this.#drain(pipe);
  }

  /** Commits the partition's handled batches, all that are waiting in one transaction, until none wait. */
  async #drain(pipe: Pipe): Promise<void> {
    const { topic, group, offsetRecord } = this.#deps.options;
    while (pipe.pending.length > 0 && !pipe.broken) {
      const batches = pipe.pending;
      pipe.pending = [];
      pipe.pendingSize = 0;
      const offset = nextOffset(batches[batches.length - 1]!.lastOffset);
      const out = batches.flatMap((b) => b.out);
      if (offsetRecord) out.push(offsetRecord(pipe.partition, offset));
      try {
        const counts = await this.#counts(out);
        const isolating = this.#isolate.has(pipe.partition);
        const perPartition = partitionChunks(out, counts, this.#deps.chunkBytes(), isolating);
        for (let attempt = 1; ; attempt++) {
          const txn = await pipe.producer.transaction();
          let committing = false;
          let refused: Chunk | undefined;
          let partial = false;
          try {
            // The output (AddPartitionsToTxn, then Produce) and the offsets (AddOffsetsToTxn, then TxnOffsetCommit)
            // do not depend on each other: both are sent at once, and the commit waits for both.
            // Records to isolate go one per sendBatch, each partition on its own (see sendOutput).
            const sent = await Promise.allSettled([
              sendOutput(txn, perPartition, isolating ? undefined : brokerSends(pipe.producer), {
                refused: (chunk) => {
                  refused ??= chunk;
                },
                partial: () => {
                  partial = true;
                },
              }),
              offsetRecord
                ? Promise.resolve()
                : txn.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition: pipe.partition, offset }] }] }),
            ]);
            // A record refused for good is what decides, whatever else failed with it.
            const failed = sent.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
            if (failed.length > 0) throw failed.find((e) => isRecordRejection(e)) ?? failed[0];
            committing = true;
            await txn.commit();
            this.#isolate.delete(pipe.partition);
            if (offsetRecord) {
              pipe.committed = offset;
              this.#deps.recorded(pipe, offset);
            }
            break;
          } catch (error) {
            if (txn.isActive()) await txn.abort().catch(() => {});
            // Records the broker refused for good (too large, invalid) would be refused on every retry: find the one
            // record (a transaction of single-record chunks next time), have the handler drop it, and start over.
            if (!committing && refused) this.#rejected(pipe, refused, error);
            // The coordinator is still completing the previous transaction: nothing of this one was committed,
            // so it is safe to abort it and run it again. A failed commit, though, may have committed: restore.
            // So does a failed request to several partitions: the producer's sequence numbers are behind the broker's.
            if (committing || partial || attempt >= MAX_TXN_ATTEMPTS || !kafkaErrorTypes(error).some((t) => RETRIABLE_TXN.has(t)))
              throw error;
            await sleep(Math.min(200, 5 * 2 ** attempt));
          }
        }
      } catch (error) {
        const fenced = isFenced(error);
        this.#deps.log(
          fenced ? 'fenced: another member took this partition over' : 'transaction failed; the batches will be delivered again',
          { topic, partition: pipe.partition, error: String(error) },
        );
        pipe.committing = undefined;
        this.#deps.failed(pipe, fenced);
        return;
      }
    }
    pipe.committing = undefined;
  }

  /** A chunk of the partition's output was refused for good: name its record to the handler, or isolate it next time. */
  #rejected(pipe: Pipe, chunk: Chunk, error: unknown): void {
    const { topic, onRejected } = this.#deps.options;
    if (chunk.records.length > 1) {
      this.#isolate.add(pipe.partition);
      return;
    }
    const record = chunk.records[0]!;
    this.#deps.log('the broker refused a record for good', {
      topic,
      partition: pipe.partition,
      recordTopic: record.topic,
      key: record.key,
      error: String(error),
    });
    onRejected?.(record, transportError(`${record.topic} refused the record with key ${JSON.stringify(record.key)}`, error));
  }
}
