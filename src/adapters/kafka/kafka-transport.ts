import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import type { PartitionLag } from '../../ports/metrics.js';
import type {
  BatchHandler,
  DurableLog,
  DurableSubscribeOptions,
  StoredMessage,
  Subscription,
  TopicFeed,
  TopicFeedOptions,
  TopicMessage,
} from '../../ports/transport.js';
import { AtLeastOnceSubscription } from './at-least-once-subscription.js';
import { consumerLag } from './consumer-lag.js';
import { CHUNK_BYTES, partitionChunks, partitionCountCache } from './encoding.js';
import { ExactlyOnceSubscription } from './exactly-once-subscription.js';
import type { KafkaConnectionOptions } from './kafka-client.js';
import { createKafka, isRecordRejection, producerConfig, retryRetriable, transportError } from './kafka-client.js';
import { KafkaFeed } from './kafka-feed.js';
import { endOffsets, readPartitions } from './partition-reader.js';
import type { TopicLayout, TopicReport } from './topic-admin.js';
import { ensureDefinitionsTopic, ensureHistoryTopic, ensureTopics, partitionCounts, recordLimits, topicConfig } from './topic-admin.js';

/** Options of {@link KafkaTransport}. */
export interface KafkaTransportOptions extends KafkaConnectionOptions {
  /** Delay before a batch whose handler threw is delivered again. @default 200 */
  readonly redeliveryDelayMs?: number;
  /** Receives the transport's own diagnostics (fencing, redeliveries). @default silent */
  readonly onLog?: (message: string, extra?: Record<string, unknown>) => void;
}

interface Pending {
  readonly messages: readonly TopicMessage[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The Kafka transport. Messages are JSON envelopes keyed by run id (murmur2 partitioning, as Java clients do), so
 * one run's messages stay in order in one partition. `publish` batches what is published in the same turn of the
 * microtask queue, and everything published while a send is in flight, into one idempotent `sendBatch`.
 * Subscriptions are consumer groups: `exactly-once` ones commit the handler's messages and the batch's offsets in
 * one fenced transaction per partition batch, `at-least-once` ones publish, then commit, and let a handler hold a
 * message's acknowledgement back (`defer`).
 *
 * The Kafka client stays inside: callers get lockstep's operations on topics (create them, count partitions, read
 * or follow topics, end offsets), never the client or its admin. Each of those requests is sent again while the
 * broker answers with an error Kafka marks retriable ({@link retryRetriable}); the producer's sends are retried by
 * kafkajs on the same errors.
 */
export class KafkaTransport implements DurableLog {
  readonly #kafka: Kafka;
  readonly #options: KafkaTransportOptions;
  readonly #subscriptions = new Set<ExactlyOnceSubscription | AtLeastOnceSubscription>();
  #producer: Promise<Producer> | undefined;
  #admin: Promise<Admin> | undefined;
  #pending: Pending[] = [];
  #flushing = false;
  #closed = false;
  /** The largest produce chunk: the smallest record limit read so far, at most {@link CHUNK_BYTES}. */
  #chunkBytes = CHUNK_BYTES;
  /** Partitions of each topic published to: each partition's records are sent on their own. */
  readonly #counts = partitionCountCache(() => this.#adminReady());

  constructor(options: KafkaTransportOptions) {
    this.#options = options;
    this.#kafka = createKafka(options);
  }

  /** The shared admin client (connected on first use). A failed connection is tried again on the next call. */
  #adminReady(): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin();
      await admin.connect();
      return admin;
    })();
    this.#admin.catch(() => (this.#admin = undefined));
    return this.#admin;
  }

  #producerReady(): Promise<Producer> {
    this.#producer ??= (async () => {
      const producer = this.#kafka.producer(producerConfig());
      await producer.connect();
      return producer;
    })();
    return this.#producer;
  }

  publish(messages: readonly TopicMessage[]): Promise<void> {
    if (this.#closed) return Promise.reject(transportError('publish', new Error('the Kafka transport is closed')));
    if (messages.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#pending.push({ messages, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        // A microtask, not setImmediate: a worker's task outcome goes out before its consumer's next fetch request
        // is built and written (~0.2 ms sooner on the critical path of each step).
        queueMicrotask(() => void this.#flush());
      }
    });
  }

  /** Sends everything published since the last flush in one request; keeps going while more arrives. */
  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const items = this.#pending;
      this.#pending = [];
      try {
        await this.#send(items.flatMap((i) => i.messages));
        for (const i of items) i.resolve();
      } catch (error) {
        if (items.length > 1 && isRecordRejection(error)) {
          // One caller's record was refused for good (too large, say): the others' still go out.
          for (const i of items)
            await this.#send(i.messages).then(i.resolve, (e: unknown) => i.reject(transportError('cannot publish to Kafka', e)));
          continue;
        }
        const failure = transportError('cannot publish to Kafka', error);
        for (const i of items) i.reject(failure);
      }
    }
    this.#flushing = false;
  }

  /** One partition per `sendBatch` (see `partitionChunks`: kafkajs may write twice or drop records of one that reaches several brokers), partitions at once. */
  async #send(messages: readonly TopicMessage[]): Promise<void> {
    const producer = await this.#producerReady();
    const perPartition = partitionChunks(messages, await this.#counts(messages), this.#chunkBytes, false);
    const sent = await Promise.allSettled(
      perPartition.map(async (chunks) => {
        for (const chunk of chunks) await producer.sendBatch({ topicMessages: chunk.topicMessages, acks: -1 });
      }),
    );
    const failed = sent.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failed.length > 0) throw failed.find((e) => isRecordRejection(e)) ?? failed[0];
  }

  async subscribe(options: DurableSubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    const admin = await this.#adminReady();
    const partitions = (await partitionCounts(admin, [options.topic]).catch(() => new Map<string, number>())).get(options.topic) ?? 1;
    const deps = {
      kafka: this.#kafka,
      admin: () => this.#adminReady(),
      options,
      handler,
      partitions,
      publish: (m: readonly TopicMessage[]) => this.publish(m),
      chunkBytes: () => this.#chunkBytes,
      log: this.#options.onLog ?? (() => {}),
      redeliveryDelayMs: this.#options.redeliveryDelayMs ?? 200,
    };
    const subscription = options.delivery === 'at-least-once' ? new AtLeastOnceSubscription(deps) : new ExactlyOnceSubscription(deps);
    try {
      await subscription.start();
    } catch (error) {
      await subscription.close().catch(() => {});
      throw transportError(`cannot subscribe to ${options.topic}`, error);
    }
    this.#subscriptions.add(subscription);
    return {
      close: async () => {
        this.#subscriptions.delete(subscription);
        await subscription.close();
      },
    };
  }

  async readPartitions(topic: string, partitions: readonly number[]): Promise<StoredMessage[]> {
    return readPartitions(this.#kafka, await this.#connected(`read ${topic}`), topic, partitions);
  }

  /**
   * Opens a {@link TopicFeed} on whole topics: one consumer group of its own (`<clientId>-feed-<uuid>`) for as many
   * readers as follow runs through it. Resolves once it is assigned and positioned at the topics' end.
   */
  async openFeed(options: TopicFeedOptions): Promise<TopicFeed> {
    const admin = await this.#connected(`follow ${options.topics.join(', ')}`);
    const feed = new KafkaFeed(this.#kafka, admin, `${this.#options.clientId ?? 'lockstep'}-feed-${randomUUID()}`, options);
    await feed.start();
    return feed;
  }

  /** The first (`low`) and next-to-be-written (`high`) offsets of each partition of a topic. */
  async endOffsets(topic: string): Promise<Map<number, { low: bigint; high: bigint }>> {
    const admin = await this.#connected(`read the offsets of ${topic}`);
    return endOffsets(admin, topic).catch((error: unknown) => {
      throw transportError(`cannot read the offsets of ${topic}`, error);
    });
  }

  /** How far a consumer group is behind on each partition of a topic (see `consumerLag`), for the metrics. */
  async consumerLag(topic: string, group: string): Promise<PartitionLag[]> {
    const admin = await this.#connected(`read the lag of ${group} on ${topic}`);
    return consumerLag(admin, topic, group).catch((error: unknown) => {
      throw transportError(`cannot read the lag of ${group} on ${topic}`, error);
    });
  }

  /** Partition counts of the topics that exist among `topics`; a missing topic has no entry. */
  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    const admin = await this.#connected(`read the partitions of ${topics.join(', ')}`);
    try {
      return await retryRetriable(async () => {
        const existing = new Set(await admin.listTopics());
        const present = topics.filter((t) => existing.has(t));
        return present.length === 0 ? new Map<string, number>() : await partitionCounts(admin, present);
      });
    } catch (error) {
      throw transportError(`cannot read the partitions of ${topics.join(', ')}`, error);
    }
  }

  /** Creates the topics of a layout that do not exist yet; see {@link ensureTopics}. */
  async ensureTopics(layout: TopicLayout): Promise<TopicReport> {
    const admin = await this.#connected('create topics');
    return ensureTopics(admin, layout).catch((error: unknown) => {
      throw transportError('cannot create topics', error);
    });
  }

  /**
   * Creates the history topic when it is missing, with the events topic's partition count, and says whether it did;
   * see {@link ensureHistoryTopic}.
   */
  async ensureHistoryTopic(options: {
    readonly prefix?: string;
    readonly retentionMs?: number;
    readonly replicationFactor?: number;
  }): Promise<boolean> {
    const admin = await this.#connected('create the history topic');
    return ensureHistoryTopic(admin, options).catch((error: unknown) => {
      throw transportError('cannot create the history topic', error);
    });
  }

  /** Creates the definitions topic when it is missing, and says whether it did; see {@link ensureDefinitionsTopic}. */
  async ensureDefinitionsTopic(prefix?: string, replicationFactor?: number): Promise<boolean> {
    const admin = await this.#connected('create the definitions topic');
    return ensureDefinitionsTopic(admin, prefix, replicationFactor).catch((error: unknown) => {
      throw transportError('cannot create the definitions topic', error);
    });
  }

  /** Settings of a topic by name (`retention.ms`, say), as the broker reports them; names it does not know are left out. */
  async topicConfig(topic: string, names: readonly string[]): Promise<Map<string, string>> {
    const admin = await this.#connected(`describe ${topic}`);
    return retryRetriable(() => topicConfig(admin, topic, names)).catch((error: unknown) => {
      throw transportError(`cannot describe ${topic}`, error);
    });
  }

  /** Each topic's `max.message.bytes` (the broker's `message.max.bytes` if it has none) less a batch's framing. */
  async recordLimits(topics: readonly string[]): Promise<ReadonlyMap<string, number>> {
    const limits = await recordLimits(await this.#adminReady(), topics);
    for (const bytes of limits.values()) this.#chunkBytes = Math.min(this.#chunkBytes, bytes);
    return limits;
  }

  /** The admin client, or a retriable `TRANSPORT_UNAVAILABLE` naming the brokers when they cannot be reached. */
  async #connected(purpose: string): Promise<Admin> {
    if (this.#closed) throw transportError(`cannot ${purpose}`, new Error('the Kafka transport is closed'));
    return this.#adminReady().catch((error: unknown) => {
      throw transportError(`cannot reach Kafka at ${String(this.#options.brokers)} to ${purpose}`, error);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#flushing) await new Promise((r) => setTimeout(r, 5));
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.close().catch(() => {})));
    this.#subscriptions.clear();
    if (this.#producer) await (await this.#producer.catch(() => undefined))?.disconnect().catch(() => {});
    if (this.#admin) await (await this.#admin.catch(() => undefined))?.disconnect().catch(() => {});
  }
}
