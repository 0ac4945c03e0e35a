import type { Admin, Consumer, Kafka } from 'kafkajs';
import type { TopicFeed, TopicFeedOptions } from '../../ports/transport.js';
import { consumerConfig, retryRetriable, storedMessage, transportError } from './kafka-client.js';
import { endOffsets } from './partition-reader.js';

/** One {@link TopicFeed.rewind}: done once every record below `high` has been delivered after the read began. */
interface Rewind {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly promise: Promise<void>;
  high: bigint;
  started: boolean;
}

/** The rewinds of one partition. */
interface Scan {
  /** Asked for in this turn of the event loop: they will share one read. */
  collecting?: Rewind;
  /** Sought: waiting for the read from `target` to begin, or to reach their `high`. */
  readonly sought: Rewind[];
  /** Where the latest seek sent the partition. */
  target?: bigint;
}

const keyOf = (topic: string, partition: number) => `${topic}|${partition}`;

function rewindPromise(): Rewind {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A rewind nobody awaits any more (its waiter gave up) must not surface as an unhandled rejection.
  promise.catch(() => {});
  return { resolve, reject, promise, high: 0n, started: false };
}

/**
 * The Kafka {@link TopicFeed}: one consumer in a group of its own, assigned every partition of its topics, from their
 * end at the start (on-demand topics: paused until rewound). A rewind seeks the partition back to its first offset;
 * kafkajs drops what it fetched for a partition with a seek pending, so the first batch fetched at or below that
 * offset begins the read again. The feed keeps its own position of each partition and seeks there again after a
 * rejoin (a coordinator moving, a retriable crash kafkajs restarts from), so nothing is skipped. It commits nothing,
 * and its group is deleted when it closes.
 */
export class KafkaFeed implements TopicFeed {
  readonly #kafka: Kafka;
  readonly #admin: Admin;
  readonly #groupId: string;
  readonly #options: TopicFeedOptions;
  readonly #onDemand: ReadonlySet<string>;
  /** The next offset to deliver of each partition, as far as the feed has read it. */
  readonly #position = new Map<string, bigint>();
  readonly #scans = new Map<string, Scan>();
  /** Partitions of on-demand topics being read. */
  readonly #active = new Set<string>();
  #consumer?: Consumer;
  #failed?: Error;
  #closed = false;

  constructor(kafka: Kafka, admin: Admin, groupId: string, options: TopicFeedOptions) {
    this.#kafka = kafka;
    this.#admin = admin;
    this.#groupId = groupId;
    this.#options = options;
    this.#onDemand = new Set(options.onDemand ?? []);
  }

  /** Connects and resolves once the group has assigned the partitions, at their end as of this call (or their start). */
  async start(): Promise<void> {
    for (const topic of this.#options.topics) {
      if (this.#onDemand.has(topic)) continue;
      const fromStart = this.#options.fromStart?.includes(topic) ?? false;
      for (const [p, end] of await endOffsets(this.#admin, topic)) this.#position.set(keyOf(topic, p), fromStart ? end.low : end.high);
    }
    const consumer = this.#kafka.consumer(consumerConfig(this.#groupId));
    this.#consumer = consumer;
    let joined!: () => void;
    const ready = new Promise<void>((resolve) => {
      joined = resolve;
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
        for (const p of partitions) this.#place(consumer, topic, p);
      }
      joined();
    });
    // Batches made only of transaction markers reach no handler: their end still moves the read on.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.firstOffset === null)
        this.#progress(payload.topic, payload.partition, BigInt(payload.lastOffset), BigInt(payload.lastOffset));
    });
    // A retriable crash restarts the consumer by itself (and rejoins); any other ends the feed.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.#fail(transportError(`the feed of ${this.#options.topics.join(', ')} stopped`, payload.error));
    });
    try {
      await retryRetriable(() => consumer.connect());
      for (const topic of this.#options.topics) await retryRetriable(() => consumer.subscribe({ topic, fromBeginning: false }));
      await consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) this.#deliver(batch.topic, storedMessage(batch.partition, m));
          // kafkajs' batches carry the offset they were fetched at, though its types leave it out.
          const fetched = (batch as unknown as { fetchedOffset: string }).fetchedOffset;
          this.#progress(batch.topic, batch.partition, BigInt(fetched), BigInt(batch.lastOffset()));
        },
      });
    } catch (error) {
      await this.close();
      throw transportError(`cannot follow ${this.#options.topics.join(', ')}`, error);
    }
    await ready;
  }

  rewind(topic: string, partition: number): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    const key = keyOf(topic, partition);
    let scan = this.#scans.get(key);
    if (!scan) {
      scan = { sought: [] };
      this.#scans.set(key, scan);
    }
    if (scan.collecting) return scan.collecting.promise;
    const rewind = rewindPromise();
    scan.collecting = rewind;
    const own = scan;
    setImmediate(() => {
      // Rewinds asked for after this point need an end noted after they were asked for: they start another read.
      own.collecting = undefined;
      this.#seekBack(topic, partition, own, rewind).catch((error: unknown) =>
        rewind.reject(transportError(`cannot read ${topic} partition ${partition} again`, error)),
      );
    });
    return rewind.promise;
  }

  async #seekBack(topic: string, partition: number, scan: Scan, rewind: Rewind): Promise<void> {
    const end = (await endOffsets(this.#admin, topic)).get(partition);
    if (this.#failed) throw this.#failed;
    const consumer = this.#consumer;
    if (!end || !consumer) throw new Error(`partition ${partition} of ${topic} does not exist`);
    rewind.high = end.high;
    const key = keyOf(topic, partition);
    if (end.high > end.low) scan.sought.push(rewind);
    scan.target = end.low;
    if (this.#onDemand.has(topic) && !this.#active.has(key)) {
      this.#active.add(key);
      consumer.resume([{ topic, partitions: [partition] }]);
    }
    consumer.seek({ topic, partition, offset: String(end.low) });
    if (end.high <= end.low) rewind.resolve();
  }

  pause(topic: string, partition: number): void {
    const key = keyOf(topic, partition);
    if (!this.#onDemand.has(topic) || !this.#active.delete(key)) return;
    this.#consumer?.pause([{ topic, partitions: [partition] }]);
  }

  async close(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    this.#closed = true;
    this.#fail(new Error('the feed is closed'));
    if (!consumer) return;
    await consumer.disconnect().catch(() => {});
    // The group committed nothing; removing it keeps group listings clean.
    await this.#admin.deleteGroups([this.#groupId]).catch(() => {});
  }

  /** Where an assigned partition resumes after a (re)join: back to its start for a read not begun yet, else on. */
  #place(consumer: Consumer, topic: string, partition: number): void {
    const key = keyOf(topic, partition);
    if (this.#onDemand.has(topic) && !this.#active.has(key)) {
      consumer.pause([{ topic, partitions: [partition] }]);
      return;
    }
    const scan = this.#scans.get(key);
    const position = scan?.target !== undefined && scan.sought.some((r) => !r.started) ? scan.target : this.#position.get(key);
    if (position !== undefined) consumer.seek({ topic, partition, offset: String(position) });
  }

  #deliver(topic: string, message: ReturnType<typeof storedMessage>): void {
    try {
      this.#options.onRecord({ topic, ...message });
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** A batch fetched at `fetched` was delivered up to `last`. */
  #progress(topic: string, partition: number, fetched: bigint, last: bigint): void {
    const key = keyOf(topic, partition);
    this.#position.set(key, last + 1n);
    const scan = this.#scans.get(key);
    if (!scan || scan.sought.length === 0) return;
    if (scan.target !== undefined && fetched <= scan.target) for (const r of scan.sought) r.started = true;
    for (const r of scan.sought.filter((s) => s.started && last >= s.high - 1n)) {
      scan.sought.splice(scan.sought.indexOf(r), 1);
      r.resolve();
    }
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    for (const scan of this.#scans.values()) {
      for (const r of scan.sought.splice(0)) r.reject(error);
      scan.collecting?.reject(error);
    }
    if (!this.#closed) this.#options.onFail(error);
  }
}
