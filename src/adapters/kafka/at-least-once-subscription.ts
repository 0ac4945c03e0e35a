import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { BatchContext, ConsumedMessage, Subscription } from '../../ports/transport.js';
import { sleep } from './encoding.js';
import type { SubscriptionDeps } from './exactly-once-subscription.js';
import { CLIENT_SETTINGS, consumerConfig, decodeMessage } from './kafka-client.js';

/** Offsets of one owned partition. */
interface Track {
  /** Offsets of deferred messages not completed yet: the committed position never passes the oldest. */
  readonly held: Set<bigint>;
  /** Next offset after the last message handled. */
  next: bigint;
  committed: bigint;
  /** The next commit of this partition, not sent yet: later completions ride on it. */
  scheduled: Promise<void> | undefined;
  /** The commit in flight. */
  committing: Promise<void> | undefined;
  /** Ends the wait before the scheduled commit early (on close). */
  wake: (() => void) | undefined;
}

/**
 * How long completions are gathered before their partition's offset is committed. An offset commit is a broker
 * round trip that competes with the orchestrator's transaction on the critical path of the next step; gathering
 * commits makes fewer of them. Acknowledging later never loses a dispatch: at worst one completed in this window
 * is delivered again after a crash or a rebalance (at least once, deduplicated by lockstep).
 */
const COMMIT_DELAY_MS = 50;

/**
 * At-least-once consumption for workers. The handler's messages are published, then the batch is acknowledged;
 * a deferred message (a task still running) holds the committed position of its partition back until its
 * outcome is published, so a worker that dies or hands its work back mid-task never loses a dispatch: the next
 * owner of the partition receives it again. Consumption itself goes on past deferred messages (a long task does
 * not block the tasks of other runs, and cancellations still arrive).
 */
export class AtLeastOnceSubscription implements Subscription {
  readonly #deps: SubscriptionDeps;
  readonly #consumer: Consumer;
  readonly #tracks = new Map<number, Track>();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(deps: SubscriptionDeps) {
    this.#deps = deps;
    this.#consumer = deps.kafka.consumer(consumerConfig(deps.options.group, CLIENT_SETTINGS.workerSessionTimeout));
  }

  async start(): Promise<void> {
    const { topic } = this.#deps.options;
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[topic] ?? []);
      // Kept partitions go on after the last message handled here (deferred ones are still tracked and running
      // here), instead of from the committed position, which would deliver everything since again.
      for (const p of assigned) {
        const track = this.#tracks.get(p);
        if (track && track.next >= 0n) this.#consumer.seek({ topic, partition: p, offset: track.next.toString() });
      }
      this.#chain = this.#chain
        .then(() => this.#reassign(assigned))
        .catch((error: unknown) => this.#deps.log('partition assignment failed', { error: String(error) }));
    });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topic, fromBeginning: true });
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, Math.min(this.#deps.partitions, 64)),
      eachBatch: (payload) => this.#eachBatch(payload),
    });
  }

  /** Commits what is safe to commit (never past a deferred message still running), then leaves the group. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const track of this.#tracks.values()) track.wake?.();
    await Promise.all([...this.#tracks.entries()].map(([p, t]) => this.#commit(p, t)));
    await this.#consumer.disconnect().catch(() => {});
    this.#tracks.clear();
  }

  async #reassign(assigned: Set<number>): Promise<void> {
    const gone = [...this.#tracks.keys()].filter((p) => !assigned.has(p));
    for (const p of gone) this.#tracks.delete(p);
    if (gone.length > 0) await this.#deps.options.onRevoked?.(gone);
    const fresh = [...assigned].filter((p) => !this.#tracks.has(p));
    for (const p of fresh)
      this.#tracks.set(p, { held: new Set(), next: -1n, committed: -1n, scheduled: undefined, committing: undefined, wake: undefined });
    if (fresh.length > 0) await this.#deps.options.onAssigned?.(fresh);
  }

  /**
   * Commits the partition's safe position, {@link COMMIT_DELAY_MS} from now (at once when closing). Completions
   * arrive one by one: they join the commit scheduled next, so at most one commit per partition waits and one is
   * in flight, and each carries everything completed before it started. Resolves once a commit that includes
   * everything completed so far is done.
   */
  #commit(partition: number, track: Track): Promise<void> {
    track.scheduled ??= (async () => {
      if (!this.#closed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, COMMIT_DELAY_MS);
          track.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        track.wake = undefined;
      }
      await track.committing;
      // From here on, completions schedule the next commit: this one reads the position now.
      track.scheduled = undefined;
      const committing = this.#commitNow(partition, track);
      track.committing = committing;
      await committing;
      if (track.committing === committing) track.committing = undefined;
    })();
    return track.scheduled;
  }

  async #commitNow(partition: number, track: Track): Promise<void> {
    if (track.next < 0n) return;
    let safe = track.next;
    for (const o of track.held) if (o < safe) safe = o;
    if (safe <= track.committed || this.#tracks.get(partition) !== track) return;
    const before = track.committed;
    track.committed = safe;
    try {
      await this.#consumer.commitOffsets([{ topic: this.#deps.options.topic, partition, offset: safe.toString() }]);
    } catch (error) {
      // A rebalance is under way: the next owner starts from the last committed position (at least once).
      if (track.committed === safe) track.committed = before;
      this.#deps.log('offset commit failed', { partition, error: String(error) });
    }
  }

  async #eachBatch({ batch, resolveOffset, isStale }: EachBatchPayload): Promise<void> {
    const { topic } = this.#deps.options;
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
          if (replies.length > 0) await this.#deps.publish(replies);
          if (track.held.delete(offset)) await this.#commit(partition, track);
        };
      },
    };
    try {
      const out = await this.#deps.handler(messages, context);
      if (out.length > 0) await this.#deps.publish(out);
    } catch (error) {
      for (const o of deferredHere) track.held.delete(o);
      this.#deps.log('batch handler failed; the batch will be delivered again', { topic, partition, error: String(error) });
      await sleep(this.#deps.redeliveryDelayMs);
      return;
    }
    const last = batch.lastOffset();
    track.next = BigInt(last) + 1n;
    resolveOffset(last);
    // Not awaited: the next fetch does not wait for the acknowledgement (a failed commit is logged, and the
    // position is committed again with the next one).
    void this.#commit(partition, track);
  }
}
