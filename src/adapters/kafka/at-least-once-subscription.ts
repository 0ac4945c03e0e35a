import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { BatchContext, ConsumedMessage, Subscription } from '../../ports/transport.js';
import { sleep } from './encoding.js';
import type { SubscriptionDeps } from './exactly-once-subscription.js';
import { consumerConfig, decodeMessage } from './kafka-client.js';

/** Offsets of one owned partition. */
interface Track {
  /** Offsets of deferred messages not completed yet: the committed position never passes the oldest. */
  readonly held: Set<bigint>;
  /** Next offset after the last message handled. */
  next: bigint;
  committed: bigint;
  /** A commit of this partition is scheduled or in flight: later completions ride on it. */
  committing: Promise<void> | undefined;
  again: boolean;
}

/**
 * At-least-once consumption for workers. The handler's messages are published, then the batch is acknowledged;
 * a deferred message (a task still running) holds the committed position of its partition back until its
 * outcome is published, so a worker that dies or hands its work back mid-task never loses a dispatch: the next
 * owner of the partition receives it again. Consumption itself goes on past deferred messages (a long task does
 * not block the tasks of other runs, and cancellations still arrive).
 */
export class AtLeastOnceSubscription implements Subscription {
  readonly #d: SubscriptionDeps;
  readonly #consumer: Consumer;
  readonly #tracks = new Map<number, Track>();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(deps: SubscriptionDeps) {
    this.#d = deps;
    this.#consumer = deps.kafka.consumer(consumerConfig(deps.options.group));
  }

  async start(): Promise<void> {
    const { topic } = this.#d.options;
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[topic] ?? []);
      // Kept partitions go on after the last message handled here (deferred ones are still tracked and running
      // here), instead of from the committed position, which would deliver everything since again.
      for (const p of assigned) {
        const track = this.#tracks.get(p);
        if (track && track.next >= 0n) this.#consumer.seek({ topic, partition: p, offset: track.next.toString() });
      }
      this.#chain = this.#chain.then(() => this.#reassign(assigned)).catch((error: unknown) => this.#d.log('partition assignment failed', { error: String(error) }));
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

  /** Commits what is safe to commit (never past a deferred message still running), then leaves the group. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#tracks.entries()].map(([p, t]) => this.#commit(p, t)));
    await this.#consumer.disconnect().catch(() => {});
    this.#tracks.clear();
  }

  async #reassign(assigned: Set<number>): Promise<void> {
    const gone = [...this.#tracks.keys()].filter((p) => !assigned.has(p));
    for (const p of gone) this.#tracks.delete(p);
    if (gone.length > 0) await this.#d.options.onRevoked?.(gone);
    const fresh = [...assigned].filter((p) => !this.#tracks.has(p));
    for (const p of fresh) this.#tracks.set(p, { held: new Set(), next: -1n, committed: -1n, committing: undefined, again: false });
    if (fresh.length > 0) await this.#d.options.onAssigned?.(fresh);
  }

  /**
   * Commits the partition's safe position. Completions arrive one by one: they are coalesced, so at most one
   * commit per partition is in flight and the next one carries everything completed meanwhile.
   */
  #commit(partition: number, track: Track): Promise<void> {
    if (track.committing) {
      track.again = true;
      return track.committing;
    }
    track.committing = (async () => {
      await new Promise((r) => setImmediate(r));
      do {
        track.again = false;
        await this.#commitNow(partition, track);
      } while (track.again);
      track.committing = undefined;
    })();
    return track.committing;
  }

  async #commitNow(partition: number, track: Track): Promise<void> {
    if (track.next < 0n) return;
    let safe = track.next;
    for (const o of track.held) if (o < safe) safe = o;
    if (safe <= track.committed || this.#tracks.get(partition) !== track) return;
    const before = track.committed;
    track.committed = safe;
    try {
      await this.#consumer.commitOffsets([{ topic: this.#d.options.topic, partition, offset: safe.toString() }]);
    } catch (error) {
      // A rebalance is under way: the next owner starts from the last committed position (at least once).
      if (track.committed === safe) track.committed = before;
      this.#d.log('offset commit failed', { partition, error: String(error) });
    }
  }

  async #eachBatch({ batch, resolveOffset, isStale }: EachBatchPayload): Promise<void> {
    const { topic } = this.#d.options;
    const partition = batch.partition;
    await this.#chain;
    if (isStale()) return; // fetched before a seek: it comes again from the new position
    const track = this.#tracks.get(partition);
    if (!track || this.#closed) {
      await sleep(50);
      return;
    }
    const messages = batch.messages.map((m) => decodeMessage(topic, partition, m));
    const deferredHere: bigint[] = [];
    const context: BatchContext = {
      defer: (message: ConsumedMessage) => {
        const offset = BigInt(message.offset);
        track.held.add(offset);
        deferredHere.push(offset);
        return async (replies) => {
          if (replies.length > 0) await this.#d.publish(replies);
          if (track.held.delete(offset)) await this.#commit(partition, track);
        };
      },
    };
    try {
      const out = await this.#d.handler(messages, context);
      if (out.length > 0) await this.#d.publish(out);
    } catch (error) {
      for (const o of deferredHere) track.held.delete(o);
      this.#d.log('batch handler failed; the batch will be delivered again', { topic, partition, error: String(error) });
      await sleep(this.#d.redeliveryDelayMs);
      return;
    }
    const last = batch.lastOffset();
    track.next = BigInt(last) + 1n;
    resolveOffset(last);
    await this.#commit(partition, track);
  }
}
