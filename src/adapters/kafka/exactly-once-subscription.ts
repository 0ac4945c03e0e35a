import type { Admin, Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { BatchContext, BatchHandler, SubscribeOptions, Subscription, TopicMessage } from '../../ports/transport.js';
import { topicMessages, sleep } from './encoding.js';
import { consumerConfig, decodeMessage, isFenced, producerConfig } from './kafka-client.js';

/** What a subscription needs from its transport. */
export interface SubscriptionDeps {
  readonly kafka: Kafka;
  readonly admin: () => Promise<Admin>;
  readonly options: SubscribeOptions;
  readonly handler: BatchHandler;
  /** Partitions of the topic: how many batches may be handled at once. */
  readonly partitions: number;
  readonly publish: (messages: readonly TopicMessage[]) => Promise<void>;
  readonly log: (message: string, extra?: Record<string, unknown>) => void;
  /** Delay before a batch whose handler threw is delivered again. */
  readonly redeliveryDelayMs: number;
}

/** How long a fenced partition waits for a rebalance before it tries to take its partition back. */
const FENCED_RETRY_MS = 10_000;
const ACQUIRE_RETRY_MS = 1_000;

const noDefer: BatchContext = {
  defer() {
    throw new LockstepError(ErrorCode.invalidUsage, 'defer() needs an at-least-once subscription: exactly-once batches are acknowledged in their transaction');
  },
};

/**
 * Consume-transform-produce under Kafka transactions. Each partition this member owns has its own transactional
 * producer, with the transactional id `<group>.<topic>.<partition>`: taking a partition over initialises that id,
 * which aborts the previous owner's open transaction and fences it, so a zombie left over after a rebalance can
 * no longer write. Each batch of a partition (events of many runs) is handled once; the handler's messages and
 * the batch's consumer offset are committed in one transaction. When that commit fails, the partition is revoked
 * (the handler drops state derived from it) and given back through `onAssigned` (state is reloaded from what was
 * durably committed) before the batch is delivered again.
 */
export class ExactlyOnceSubscription implements Subscription {
  readonly #d: SubscriptionDeps;
  readonly #consumer: Consumer;
  readonly #owned = new Map<number, Producer>();
  readonly #inflight = new Map<number, Promise<void>>();
  /** Next offset to consume per owned partition, as committed by this member's last transaction. */
  readonly #position = new Map<number, string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #assigned = new Set<number>();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(deps: SubscriptionDeps) {
    this.#d = deps;
    this.#consumer = deps.kafka.consumer(consumerConfig(deps.options.group));
  }

  async start(): Promise<void> {
    const { topic } = this.#d.options;
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, ({ payload }) => {
      this.#assigned = new Set(payload.memberAssignment[topic] ?? []);
      // kafkajs re-reads committed offsets after every rebalance, and may read them before the markers of this
      // member's last transaction are written: start kept partitions where this member knows it left off.
      for (const p of this.#assigned) {
        const position = this.#position.get(p);
        if (this.#owned.has(p) && position !== undefined) this.#consumer.seek({ topic, partition: p, offset: position });
      }
      this.#enqueue(() => this.#reassign());
    });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topic, fromBeginning: true });
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, Math.min(this.#d.partitions, 64)),
      eachBatch: (payload) => this.#eachBatch(payload),
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    await this.#consumer.disconnect().catch(() => {});
    await this.#chain;
    await Promise.all([...this.#owned.values()].map((p) => p.disconnect().catch(() => {})));
    this.#owned.clear();
  }

  /** Partitions whose transactional producer this member holds. */
  get owned(): number[] {
    return [...this.#owned.keys()].sort((a, b) => a - b);
  }

  #enqueue(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(step).catch((error: unknown) => this.#d.log('partition assignment failed', { error: String(error) }));
  }

  async #settled(): Promise<void> {
    for (let seen: Promise<void> | undefined; seen !== this.#chain;) {
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
    const gone = [...this.#owned.keys()].filter((p) => !this.#assigned.has(p));
    for (const p of gone) await this.#inflight.get(p);
    await Promise.all(gone.map((p) => this.#release(p)));
    if (gone.length > 0) await this.#d.options.onRevoked?.(gone);
    await this.#acquire([...this.#assigned].filter((p) => !this.#owned.has(p)));
  }

  /** Takes partitions over: fences their previous owner, then lets the handler restore their state. */
  async #acquire(partitions: readonly number[]): Promise<void> {
    if (partitions.length === 0 || this.#closed) return;
    const { group, topic } = this.#d.options;
    const results = await Promise.allSettled(partitions.map(async (p) => {
      const producer = this.#d.kafka.producer(producerConfig(`${group}.${topic}.${p}`));
      try {
        await producer.connect();
        // The first transaction initialises the transactional id: the broker aborts the previous owner's open
        // transaction and bumps the epoch, so the previous owner can no longer commit.
        const fence = await producer.transaction();
        await fence.abort();
      } catch (error) {
        await producer.disconnect().catch(() => {});
        throw error;
      }
      return [p, producer] as const;
    }));
    const taken: number[] = [];
    for (const [i, r] of results.entries()) {
      if (r.status === 'fulfilled') {
        this.#owned.set(r.value[0], r.value[1]);
        taken.push(r.value[0]);
      } else {
        this.#d.log('cannot take over partition', { topic, partition: partitions[i], error: String(r.reason) });
        this.#retryAcquire(partitions[i]!, ACQUIRE_RETRY_MS);
      }
    }
    if (taken.length === 0) return;
    try {
      await this.#seekCommitted(taken);
      await this.#d.options.onAssigned?.(taken);
    } catch (error) {
      this.#d.log('restoring partitions failed', { topic, partitions: taken, error: String(error) });
      await Promise.all(taken.map((p) => this.#release(p)));
      await this.#d.options.onRevoked?.(taken).catch(() => {});
      for (const p of taken) this.#retryAcquire(p, ACQUIRE_RETRY_MS);
    }
  }

  /**
   * Starts taken-over partitions at their committed offsets, read again now that fencing has completed the
   * previous owner's last transaction (kafkajs may have read them before, while that commit was in flight).
   */
  async #seekCommitted(partitions: readonly number[]): Promise<void> {
    const { topic, group } = this.#d.options;
    const admin = await this.#d.admin();
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    let earliest: Map<number, string> | undefined;
    for (const p of partitions) {
      let offset = committed?.partitions.find((c) => c.partition === p)?.offset ?? '-1';
      if (BigInt(offset) < 0n) {
        earliest ??= new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o.low]));
        offset = earliest.get(p) ?? '0';
      }
      this.#position.set(p, offset);
      this.#consumer.seek({ topic, partition: p, offset });
    }
  }

  #retryAcquire(partition: number, ms: number): void {
    this.#later(ms, async () => {
      if (this.#assigned.has(partition) && !this.#owned.has(partition)) await this.#acquire([partition]);
    });
  }

  async #release(partition: number): Promise<void> {
    const producer = this.#owned.get(partition);
    this.#owned.delete(partition);
    this.#position.delete(partition);
    await producer?.disconnect().catch(() => {});
  }

  /** The partition's state may be ahead of what was committed: revoke it, and take it back unless fenced. */
  async #recover(partition: number, fenced: boolean): Promise<void> {
    await this.#release(partition);
    await this.#d.options.onRevoked?.([partition]).catch((error: unknown) => this.#d.log('onRevoked failed', { error: String(error) }));
    // Fenced: another member owns the partition now; a rebalance will tell this one. Else take it back at once.
    if (fenced) this.#retryAcquire(partition, FENCED_RETRY_MS);
    else this.#enqueue(async () => {
      if (this.#assigned.has(partition) && !this.#owned.has(partition)) await this.#acquire([partition]);
    });
  }

  async #eachBatch({ batch, resolveOffset, isStale }: EachBatchPayload): Promise<void> {
    const partition = batch.partition;
    await this.#settled();
    const producer = this.#owned.get(partition);
    // A seek is pending (the batch was fetched from an offset that no longer holds): drop it, it comes again.
    if (isStale()) return;
    if (!producer || this.#closed) {
      // Not (yet) ours: leave the offset unresolved, so the batch is fetched again.
      await sleep(50);
      return;
    }
    let finished!: () => void;
    this.#inflight.set(partition, new Promise<void>((resolve) => (finished = resolve)));
    try {
      await this.#process(batch, producer, resolveOffset);
    } finally {
      this.#inflight.delete(partition);
      finished();
    }
  }

  async #process(batch: EachBatchPayload['batch'], producer: Producer, resolveOffset: (offset: string) => void): Promise<void> {
    const { topic, group } = this.#d.options;
    const partition = batch.partition;
    const messages = batch.messages.map((m) => decodeMessage(topic, partition, m));
    let out;
    try {
      out = await this.#d.handler(messages, noDefer);
    } catch (error) {
      this.#d.log('batch handler failed; the batch will be delivered again', { topic, partition, error: String(error) });
      await this.#recover(partition, false);
      await sleep(this.#d.redeliveryDelayMs);
      return;
    }
    const lastOffset = batch.lastOffset();
    try {
      const txn = await producer.transaction();
      try {
        if (out.length > 0) await txn.sendBatch({ topicMessages: topicMessages(out), acks: -1 });
        await txn.sendOffsets({ consumerGroupId: group, topics: [{ topic, partitions: [{ partition, offset: (BigInt(lastOffset) + 1n).toString() }] }] });
        await txn.commit();
      } catch (error) {
        if (txn.isActive()) await txn.abort().catch(() => {});
        throw error;
      }
    } catch (error) {
      const fenced = isFenced(error);
      this.#d.log(fenced ? 'fenced: another member took this partition over' : 'transaction failed; the batch will be delivered again', { topic, partition, error: String(error) });
      await this.#recover(partition, fenced);
      return;
    }
    this.#position.set(partition, (BigInt(lastOffset) + 1n).toString());
    resolveOffset(lastOffset);
  }
}
