import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { BatchContext, BatchHandler, DurableSubscribeOptions, Subscription, TopicMessage } from '../../ports/transport.js';
import { sleep } from './encoding.js';
import { consumeBatches, consumerConfig, decodeMessage, producerConfig } from './kafka-client.js';
import type { Pipe } from './transaction-pipeline.js';
import { nextOffset, openPipe, TransactionPipeline } from './transaction-pipeline.js';
import { createTransactionalProducer } from './transactional-producer.js';

/** What a subscription needs from its transport. */
export interface SubscriptionDeps {
  readonly kafka: Kafka;
  readonly admin: () => Promise<Admin>;
  readonly options: DurableSubscribeOptions;
  readonly handler: BatchHandler;
  /** Partitions of the topic: how many batches may be handled at once. */
  readonly partitions: number;
  readonly publish: (messages: readonly TopicMessage[]) => Promise<void>;
  readonly log: (message: string, extra?: Record<string, unknown>) => void;
  /** Delay before a batch whose handler threw is delivered again. */
  readonly redeliveryDelayMs: number;
  /** The largest produce chunk, in bytes: no record batch to one partition may exceed its topic's limit. */
  readonly chunkBytes: () => number;
}

/** How long a fenced partition waits for a rebalance before it tries to take its partition back. */
const FENCED_RETRY_MS = 10_000;
const ACQUIRE_RETRY_MS = 1_000;
/** With offset records, how often the group offset is committed as a hint (lag monitoring). */
const HINT_EVERY_MS = 1_000;
/** How long closing waits for the last hint (kafkajs retries a failing commit for much longer). */
const CLOSE_HINT_MS = 2_000;

const noDefer: BatchContext = {
  defer() {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      'defer() needs an at-least-once subscription: exactly-once batches are acknowledged in their transaction',
    );
  },
};

/**
 * Consume-transform-produce under Kafka transactions.
 *
 * Fencing: each partition this member owns has its own transactional producer, with the transactional id
 * `<group>.<topic>.<partition>`. Taking a partition over initialises that id, which aborts the previous owner's
 * open transaction and bumps the epoch: a zombie left over after a rebalance can no longer write.
 *
 * Exactly once: a batch's messages (the handler's output) and the batch's consumer offset commit in one
 * transaction. The offset goes either to the group (AddOffsetsToTxn, TxnOffsetCommit) or, with `offsetRecord`,
 * as one more message of the output: the group offset is then only a hint, committed after the transaction, and
 * a member that takes the partition over starts after the later of the two.
 *
 * Commits are pipelined (see {@link TransactionPipeline}): while a partition's transaction is in flight, its next
 * batches are already handled, and they commit together in the next transaction (group commit), never before the
 * earlier one.
 *
 * Failure: when a handler throws or a commit fails, the partition is revoked (`onRevoked`: the handler drops the
 * state it derived from it, which may be ahead of what was committed) and taken back through `onAssigned` (state
 * is reloaded from what was committed) at its committed offset, so the lost batches are delivered again.
 */
export class ExactlyOnceSubscription implements Subscription {
  readonly #deps: SubscriptionDeps;
  readonly #consumer: Consumer;
  readonly #owned = new Map<number, Pipe>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #assigned = new Set<number>();
  readonly #pipeline: TransactionPipeline;
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(deps: SubscriptionDeps) {
    this.#deps = deps;
    this.#consumer = deps.kafka.consumer(consumerConfig(deps.options.group));
    this.#pipeline = new TransactionPipeline({
      admin: deps.admin,
      options: deps.options,
      log: deps.log,
      chunkBytes: deps.chunkBytes,
      recorded: (pipe, offset) => this.#hint(pipe, offset),
      failed: (pipe, fenced) => void this.#fail(pipe, fenced),
    });
  }

  async start(): Promise<void> {
    const { topic } = this.#deps.options;
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, ({ payload }) => {
      this.#assigned = new Set(payload.memberAssignment[topic] ?? []);
      // kafkajs re-reads committed offsets after every rebalance, possibly before this member's last commits
      // landed: kept partitions go on where this member left off.
      for (const p of this.#assigned) {
        const pipe = this.#owned.get(p);
        if (pipe && !pipe.broken) this.#consumer.seek({ topic, partition: p, offset: pipe.handled });
      }
      this.#enqueue(() => this.#reassign());
    });
    await consumeBatches(this.#consumer, topic, this.#deps.partitions, (payload) => this.#eachBatch(payload));
  }

  /** Stops consuming, commits what was handled, and leaves the group. Closing again waits for the first close. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    const { topic } = this.#deps.options;
    try {
      this.#consumer.pause([{ topic }]);
    } catch {
      // not running (start failed): nothing is consumed
    }
    await this.#settled();
    const pipes = [...this.#owned.values()];
    await Promise.all(
      pipes.map(async (pipe) => {
        await pipe.handling;
        await pipe.committing;
      }),
    );
    // Offset records: the group offset catches up with them before this member leaves (a hint, so errors are ignored).
    const last = pipes.filter((p) => !p.broken && p.committed !== undefined && this.#assigned.has(p.partition));
    if (last.length > 0) {
      const hinted = this.#consumer
        .commitOffsets(last.map((p) => ({ topic, partition: p.partition, offset: p.committed! })))
        .catch(() => {});
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([hinted, new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_HINT_MS)))]);
      clearTimeout(timer);
    }
    await this.#consumer.disconnect().catch(() => {});
    await this.#chain;
    await Promise.all(
      pipes.map(async (pipe) => {
        await pipe.committing;
        await pipe.producer.disconnect().catch(() => {});
      }),
    );
    this.#owned.clear();
  }

  #enqueue(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(step).catch((error: unknown) => this.#deps.log('partition assignment failed', { error: String(error) }));
  }

  async #settled(): Promise<void> {
    for (let seen: Promise<void> | undefined; seen !== this.#chain; ) {
      seen = this.#chain;
      await seen;
    }
  }

  #later(ms: number, step: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (!this.#closed) this.#enqueue(step);
    }, ms);
    this.#timers.add(timer);
  }

  async #reassign(): Promise<void> {
    if (this.#closed) return;
    const gone = [...this.#owned.values()].filter((pipe) => !this.#assigned.has(pipe.partition));
    await Promise.all(
      gone.map(async (pipe) => {
        this.#owned.delete(pipe.partition);
        // Batches handled while the partition was ours still commit (a new owner's fencing waits for them).
        await pipe.handling;
        await pipe.committing;
        await pipe.producer.disconnect().catch(() => {});
      }),
    );
    if (gone.length > 0) await this.#deps.options.onRevoked?.(gone.map((p) => p.partition));
    await this.#acquire([...this.#assigned].filter((p) => !this.#owned.has(p)));
  }

  /** Takes partitions over: fences their previous owner, starts them at their committed offsets, lets the handler restore their state. */
  async #acquire(partitions: readonly number[]): Promise<void> {
    if (partitions.length === 0 || this.#closed) return;
    const { group, topic } = this.#deps.options;
    const results = await Promise.allSettled(
      partitions.map(async (p) => {
        const producer = createTransactionalProducer(this.#deps.kafka, producerConfig(`${group}.${topic}.${p}`));
        try {
          await producer.connect();
          // The first transaction initialises the transactional id: the broker completes or aborts the previous
          // owner's transaction and bumps the epoch, so the previous owner can no longer commit.
          const fence = await producer.transaction();
          await fence.abort();
        } catch (error) {
          await producer.disconnect().catch(() => {});
          throw error;
        }
        return [p, producer] as const;
      }),
    );
    const taken: Pipe[] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') taken.push(openPipe(r.value[0], r.value[1]));
      else {
        this.#deps.log('cannot take over partition', { topic, partition: partitions[i], error: String(r.reason) });
        this.#retryAcquire(partitions[i]!, ACQUIRE_RETRY_MS);
      }
    }
    if (taken.length === 0) return;
    try {
      // Read now that fencing completed the previous owner's commits. The handler restores state first: with
      // offset records it also says where that state stands.
      const committed = await this.#committedOffsets(taken);
      for (const pipe of taken) {
        // Where a rebalance during the restore would seek this partition to (see GROUP_JOIN): a valid offset.
        pipe.handled = committed.get(pipe.partition)!;
        this.#owned.set(pipe.partition, pipe);
      }
      const recorded = await this.#deps.options.onAssigned?.(taken.map((p) => p.partition));
      for (const pipe of taken) {
        let offset = committed.get(pipe.partition)!;
        const own = this.#deps.options.offsetRecord ? recorded?.get(pipe.partition) : undefined;
        if (own !== undefined && BigInt(own) > BigInt(offset)) offset = own;
        pipe.handled = offset;
        this.#consumer.seek({ topic, partition: pipe.partition, offset });
      }
    } catch (error) {
      this.#deps.log('restoring partitions failed', { topic, partitions: taken.map((p) => p.partition), error: String(error) });
      for (const pipe of taken) {
        if (this.#owned.get(pipe.partition) === pipe) this.#owned.delete(pipe.partition);
        await pipe.producer.disconnect().catch(() => {});
      }
      await this.#deps.options.onRevoked?.(taken.map((p) => p.partition)).catch(() => {});
      for (const pipe of taken) this.#retryAcquire(pipe.partition, ACQUIRE_RETRY_MS);
    }
  }

  /** The group's committed offset of each partition, or the partition's earliest offset when there is none. */
  async #committedOffsets(pipes: readonly Pipe[]): Promise<Map<number, string>> {
    const { topic, group } = this.#deps.options;
    const admin = await this.#deps.admin();
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    let earliest: Map<number, string> | undefined;
    const offsets = new Map<number, string>();
    for (const pipe of pipes) {
      let offset = committed?.partitions.find((c) => c.partition === pipe.partition)?.offset ?? '-1';
      if (BigInt(offset) < 0n) {
        earliest ??= new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.low]));
        offset = earliest.get(pipe.partition) ?? '0';
      }
      offsets.set(pipe.partition, offset);
    }
    return offsets;
  }

  /**
   * Offset records only: commits the group offset outside the transaction, as a hint for lag monitoring, at most
   * once a second and off the commit path. The last offset of a burst is committed too.
   */
  #hint(pipe: Pipe, offset: string): void {
    const waiting = pipe.hint !== undefined;
    pipe.hint = offset;
    if (waiting) return;
    const current = () => !pipe.broken && !this.#closed && this.#owned.get(pipe.partition) === pipe && this.#assigned.has(pipe.partition);
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        const latest = pipe.hint!;
        pipe.hint = undefined;
        // A partition given away is not hinted any more: the new owner's hints are ahead of this one's.
        if (!current()) return;
        pipe.hintedAt = Date.now();
        this.#consumer.commitOffsets([{ topic: this.#deps.options.topic, partition: pipe.partition, offset: latest }]).catch(() => {
          // A rebalance under way, say: the offset record is what counts, but the hint is tried again in a second.
          if (current() && pipe.hint === undefined) this.#hint(pipe, pipe.committed ?? latest);
        });
      },
      Math.max(0, pipe.hintedAt + HINT_EVERY_MS - Date.now()),
    );
    timer.unref();
    this.#timers.add(timer);
  }

  #retryAcquire(partition: number, ms: number): void {
    this.#later(ms, async () => {
      if (this.#assigned.has(partition) && !this.#owned.has(partition)) await this.#acquire([partition]);
    });
  }

  /** The partition's state may be ahead of what was committed: revoke it, and take it back unless fenced. */
  async #fail(pipe: Pipe, fenced: boolean): Promise<void> {
    if (pipe.broken) return;
    pipe.broken = true;
    pipe.pending = [];
    await pipe.handling;
    await pipe.committing;
    if (this.#owned.get(pipe.partition) === pipe) this.#owned.delete(pipe.partition);
    await pipe.producer.disconnect().catch(() => {});
    await this.#deps.options
      .onRevoked?.([pipe.partition])
      .catch((error: unknown) => this.#deps.log('onRevoked failed', { error: String(error) }));
    // Fenced: another member owns the partition now, and a rebalance will tell this one. Else take it back at once.
    if (fenced) this.#retryAcquire(pipe.partition, FENCED_RETRY_MS);
    else
      this.#enqueue(async () => {
        if (this.#assigned.has(pipe.partition) && !this.#owned.has(pipe.partition)) await this.#acquire([pipe.partition]);
      });
  }

  async #eachBatch({ batch, resolveOffset, isStale }: EachBatchPayload): Promise<void> {
    const { topic } = this.#deps.options;
    await this.#settled();
    // A seek is pending (the batch was fetched from an offset that no longer holds): drop it, it comes again.
    if (isStale()) return;
    const pipe = this.#owned.get(batch.partition);
    if (!pipe || pipe.broken || this.#closed) {
      // Not (yet) ours: leave the offset unresolved, so the batch is fetched again.
      await sleep(50);
      return;
    }
    await this.#pipeline.room(pipe);
    if (pipe.broken) return;
    const messages = batch.messages.map((m) => decodeMessage(topic, batch.partition, m));
    const handling = this.#deps.handler(messages, noDefer);
    pipe.handling = handling.catch(() => undefined);
    let out: readonly TopicMessage[];
    try {
      out = await handling;
    } catch (error) {
      pipe.handling = undefined;
      this.#deps.log('batch handler failed; the batch will be delivered again', {
        topic,
        partition: batch.partition,
        error: String(error),
      });
      await this.#fail(pipe, false);
      await sleep(this.#deps.redeliveryDelayMs);
      return;
    }
    pipe.handling = undefined;
    if (pipe.broken) return; // a commit failed meanwhile: this batch's results are void, and it comes again
    const lastOffset = batch.lastOffset();
    pipe.handled = nextOffset(lastOffset);
    resolveOffset(lastOffset);
    this.#pipeline.add(pipe, { out, lastOffset, size: messages.length });
  }
}
