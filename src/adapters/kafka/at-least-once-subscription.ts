import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import kafkajs from 'kafkajs';
import type { BatchContext, ConsumedMessage, Subscription } from '../../ports/transport.js';
import { sleep } from './encoding.js';
import type { SubscriptionDeps } from './exactly-once-subscription.js';
import type { Hold } from './handoff-assigner.js';
import { handoffAssigner, joinToken, RELEASE_HEADER, readGroup } from './handoff-assigner.js';
import { CLIENT_SETTINGS, consumeBatches, consumerConfig, decodeMessage, producerConfig } from './kafka-client.js';

const { PartitionAssigners } = kafkajs;

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
  /** Taken over from members that still had work in flight on it: nothing is handled until they release it. */
  holds: Hold[];
  /** While held: the first offset fetched, where consumption goes back to once the hold is lifted. */
  holdFrom: bigint | undefined;
}

/** What this member said of itself in its last join. */
interface Joined {
  readonly token: string;
  readonly busy: ReadonlySet<number>;
}

/** How often a member holding a partition checks whether the previous owner is still in the group. */
const HOLD_CHECK_MS = 1_000;
/** Tries to read the group's holds after a join (the group may still be settling). */
const READ_GROUP_TRIES = 10;
const READ_GROUP_RETRY_MS = 300;
const RELEASE_RETRY_MS = 500;

const isRelease = (m: KafkaMessage): boolean => m.headers?.[RELEASE_HEADER] !== undefined;

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
 *
 * Handoff between live members: the group's assignor ({@link handoffAssigner}) keeps each member's partitions,
 * and moves partitions with nothing in flight first. A partition moved while its owner still runs some of its
 * messages is a handoff: the old owner stops that work (`onRevoked`), then writes a release record to the
 * partition; the new owner handles nothing of the partition until it has read that record, or the old owner has
 * left the group (a member that died is removed only after its session timeout, by which time its shell tasks are
 * stopped: see the shell task's lifeline). So two members never run one message's work at the same time.
 */
export class AtLeastOnceSubscription implements Subscription {
  readonly #deps: SubscriptionDeps;
  readonly #consumer: Consumer;
  readonly #tracks = new Map<number, Track>();
  #chain: Promise<void> = Promise.resolve();
  #closed = false;
  #memberId: string | undefined;
  /** What the last join request said (set by the assignor's protocol, read when the join completes). */
  #lastJoin: Joined = { token: '', busy: new Set() };
  #releaser: Promise<Producer> | undefined;
  readonly #releasing = new Set<Promise<void>>();
  #holdCheck: NodeJS.Timeout | undefined;

  constructor(deps: SubscriptionDeps) {
    this.#deps = deps;
    const { topic } = deps.options;
    const assigner = handoffAssigner(topic, () => {
      const busy = [...this.#tracks].filter(([, t]) => t.held.size > 0).map(([p]) => p);
      const token = joinToken();
      this.#lastJoin = { token, busy: new Set(busy) };
      return { owned: [...this.#tracks.keys()], busy, token };
    });
    this.#consumer = deps.kafka.consumer({
      ...consumerConfig(deps.options.group, CLIENT_SETTINGS.workerSessionTimeout),
      // Round robin second: a group with members that know only it (an older version) still forms.
      partitionAssigners: [assigner, PartitionAssigners.roundRobin],
    });
  }

  async start(): Promise<void> {
    const { topic } = this.#deps.options;
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = new Set(payload.memberAssignment[topic] ?? []);
      this.#memberId = payload.memberId;
      const joined = this.#lastJoin;
      // Kept partitions go on after the last message handled here (deferred ones are still tracked and running
      // here), instead of from the committed position, which would deliver everything since again.
      for (const p of assigned) {
        const track = this.#tracks.get(p);
        if (track && track.next >= 0n) this.#consumer.seek({ topic, partition: p, offset: track.next.toString() });
      }
      this.#chain = this.#chain
        .then(() => this.#reassign(assigned, joined))
        .catch((error: unknown) => this.#deps.log('partition assignment failed', { error: String(error) }));
    });
    await consumeBatches(this.#consumer, topic, this.#deps.partitions, (payload) => this.#eachBatch(payload));
  }

  /** Commits what is safe to commit (never past a deferred message still running), then leaves the group. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#holdCheck);
    for (const track of this.#tracks.values()) track.wake?.();
    await Promise.all([...this.#tracks.entries()].map(([p, t]) => this.#commit(p, t)));
    // Releases under way go out before this member leaves (its new owners wait for them).
    await Promise.race([Promise.all(this.#releasing), sleep(CLIENT_SETTINGS.rebalanceTimeout)]);
    await this.#consumer.disconnect().catch(() => {});
    if (this.#releaser) await (await this.#releaser.catch(() => undefined))?.disconnect().catch(() => {});
    this.#tracks.clear();
  }

  async #reassign(assigned: Set<number>, joined: Joined): Promise<void> {
    const gone = [...this.#tracks.keys()].filter((p) => !assigned.has(p));
    const busyNow = new Set(gone.filter((p) => this.#tracks.get(p)!.held.size > 0));
    for (const p of gone) this.#tracks.delete(p);
    // Not awaited: the work of revoked partitions stops in the background, while the kept ones go on.
    if (gone.length > 0) {
      const releasing = this.#release(gone, (p) => joined.busy.has(p) || busyNow.has(p), joined.token);
      this.#releasing.add(releasing);
      void releasing.finally(() => this.#releasing.delete(releasing));
    }
    const fresh = [...assigned].filter((p) => !this.#tracks.has(p));
    for (const p of fresh)
      this.#tracks.set(p, {
        held: new Set(),
        next: -1n,
        committed: -1n,
        scheduled: undefined,
        committing: undefined,
        wake: undefined,
        holds: [],
        holdFrom: undefined,
      });
    if (fresh.length > 0) {
      const holds = await this.#readHolds();
      for (const p of fresh) {
        const waits = holds.get(p) ?? [];
        if (waits.length > 0) {
          this.#tracks.get(p)!.holds = [...waits];
          this.#deps.log('partition held until its previous owner releases it', { partition: p, from: waits.map((h) => h.from) });
        }
      }
      this.#watchHolds();
      await this.#deps.options.onAssigned?.(fresh);
    }
  }

  /** This member's holds, as the group's leader planned them; none if the group cannot say (logged). */
  async #readHolds(): Promise<ReadonlyMap<number, readonly Hold[]>> {
    const memberId = this.#memberId;
    for (let i = 0; memberId && i < READ_GROUP_TRIES && !this.#closed; i++) {
      try {
        const view = await readGroup(await this.#deps.admin(), this.#deps.options.group, memberId);
        if (view.holds) return view.holds;
      } catch (error) {
        this.#deps.log('cannot read the group', { error: String(error) });
      }
      await sleep(READ_GROUP_RETRY_MS);
    }
    this.#deps.log('the group did not settle: newly assigned partitions are not held', { group: this.#deps.options.group });
    return new Map();
  }

  /** While partitions are held: lifts the holds whose previous owner has left the group. */
  #watchHolds(): void {
    if (this.#holdCheck || ![...this.#tracks.values()].some((t) => t.holds.length > 0)) return;
    this.#holdCheck = setInterval(() => {
      const held = [...this.#tracks].filter(([, t]) => t.holds.length > 0);
      if (held.length === 0 || this.#closed) {
        clearInterval(this.#holdCheck);
        this.#holdCheck = undefined;
        return;
      }
      void this.#deps
        .admin()
        .then((admin) => readGroup(admin, this.#deps.options.group, this.#memberId ?? ''))
        .then(({ members }) => {
          for (const [p, t] of held) {
            const left = t.holds.filter((h) => !members.has(h.from));
            if (left.length === 0) continue;
            this.#deps.log('the previous owner left the group', { partition: p, from: left.map((h) => h.from) });
            this.#lift(p, t, (h) => !members.has(h.from));
          }
        })
        .catch((error: unknown) => this.#deps.log('cannot read the group', { error: String(error) }));
    }, HOLD_CHECK_MS);
    this.#holdCheck.unref();
  }

  /** Drops the holds that `ended` says are over; once none is left, consumption goes back to the first message fetched while held. */
  #lift(partition: number, track: Track, ended: (hold: Hold) => boolean): void {
    track.holds = track.holds.filter((h) => !ended(h));
    if (track.holds.length > 0) return;
    if (track.holdFrom !== undefined && this.#tracks.get(partition) === track)
      this.#consumer.seek({ topic: this.#deps.options.topic, partition, offset: track.holdFrom.toString() });
    track.holdFrom = undefined;
  }

  /**
   * Stops the work of revoked partitions (`onRevoked` resolves once it has ended), then writes a release record to
   * each that had work in flight, for the member that holds it now.
   */
  async #release(partitions: readonly number[], wasBusy: (p: number) => boolean, token: string): Promise<void> {
    try {
      await this.#deps.options.onRevoked?.(partitions);
    } catch (error) {
      this.#deps.log('revocation failed', { partitions, error: String(error) });
    }
    const busy = partitions.filter(wasBusy);
    if (busy.length === 0) return;
    const { topic } = this.#deps.options;
    const messages = busy.map((partition) => ({ partition, key: null, value: null, headers: { [RELEASE_HEADER]: token } }));
    for (;;) {
      try {
        this.#releaser ??= (async () => {
          const producer = this.#deps.kafka.producer(producerConfig());
          await producer.connect();
          return producer;
        })();
        this.#releaser.catch(() => (this.#releaser = undefined));
        await (await this.#releaser).send({ topic, messages, acks: -1 });
        this.#deps.log('partitions released', { partitions: busy });
        return;
      } catch (error) {
        // Its new owner waits for it (or for this member to leave the group): keep trying while open.
        this.#deps.log('cannot release partitions', { partitions: busy, error: String(error) });
        if (this.#closed) return;
        await sleep(RELEASE_RETRY_MS);
      }
    }
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
    if (track.holds.length > 0) {
      // Held: read on, looking for the releases; nothing is handled until then.
      const first = batch.messages[0];
      if (first && (track.holdFrom === undefined || BigInt(first.offset) < track.holdFrom)) track.holdFrom = BigInt(first.offset);
      const released = new Set(batch.messages.filter(isRelease).map((m) => String(m.headers?.[RELEASE_HEADER])));
      const ended = (h: Hold) => released.has(h.token);
      if (track.holds.some(ended)) this.#deps.log('partition released', { partition, from: track.holds.filter(ended).map((h) => h.from) });
      this.#lift(partition, track, ended);
      // Still held: read on from the end of this batch; else from where the hold began (the seek above).
      if (track.holds.length > 0 && first) resolveOffset(batch.lastOffset());
      return;
    }
    const messages = batch.messages.filter((m) => !isRelease(m)).map((m) => decodeMessage(topic, partition, m));
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
