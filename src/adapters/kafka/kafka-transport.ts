import type { Admin, Kafka, Producer } from 'kafkajs';
import type { BatchHandler, DurableLog, DurableSubscribeOptions, StoredMessage, Subscription, TopicMessage } from '../../ports/transport.js';
import { AtLeastOnceSubscription } from './at-least-once-subscription.js';
import { CHUNK_BYTES, topicMessageChunks } from './encoding.js';
import { ExactlyOnceSubscription } from './exactly-once-subscription.js';
import type { KafkaConnectionOptions } from './kafka-client.js';
import { createKafka, isRecordRejection, producerConfig, transportError } from './kafka-client.js';
import { readPartitions } from './partition-reader.js';
import { partitionCounts, recordLimits } from './topic-admin.js';

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
 */
export class KafkaTransport implements DurableLog {
  readonly kafka: Kafka;
  readonly #o: KafkaTransportOptions;
  readonly #subscriptions = new Set<ExactlyOnceSubscription | AtLeastOnceSubscription>();
  #producer: Promise<Producer> | undefined;
  #admin: Promise<Admin> | undefined;
  #pending: Pending[] = [];
  #flushing = false;
  #closed = false;
  /** The largest produce chunk: the smallest record limit read so far, at most {@link CHUNK_BYTES}. */
  #chunkBytes = CHUNK_BYTES;

  constructor(options: KafkaTransportOptions) {
    this.#o = options;
    this.kafka = createKafka(options);
  }

  /** The shared admin client (connected on first use). */
  admin(): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })();
    return this.#admin;
  }

  #producerReady(): Promise<Producer> {
    this.#producer ??= (async () => {
      const producer = this.kafka.producer(producerConfig());
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
          for (const i of items) await this.#send(i.messages).then(i.resolve, (e: unknown) => i.reject(transportError('cannot publish to Kafka', e)));
          continue;
        }
        const failure = transportError('cannot publish to Kafka', error);
        for (const i of items) i.reject(failure);
      }
    }
    this.#flushing = false;
  }

  async #send(messages: readonly TopicMessage[]): Promise<void> {
    const producer = await this.#producerReady();
    for (const chunk of topicMessageChunks(messages, this.#chunkBytes)) await producer.sendBatch({ topicMessages: chunk.topicMessages, acks: -1 });
  }

  async subscribe(options: DurableSubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    const admin = await this.admin();
    const partitions = (await partitionCounts(admin, [options.topic]).catch(() => new Map<string, number>())).get(options.topic) ?? 1;
    const deps = {
      kafka: this.kafka, admin: () => this.admin(), options, handler, partitions, publish: (m: readonly TopicMessage[]) => this.publish(m),
      chunkBytes: () => this.#chunkBytes,
      log: this.#o.onLog ?? (() => {}), redeliveryDelayMs: this.#o.redeliveryDelayMs ?? 200,
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
    return readPartitions(this.kafka, await this.admin(), topic, partitions);
  }

  /** Each topic's `max.message.bytes` (the broker's `message.max.bytes` if it has none) less a batch's framing. */
  async recordLimits(topics: readonly string[]): Promise<ReadonlyMap<string, number>> {
    const limits = await recordLimits(await this.admin(), topics);
    for (const bytes of limits.values()) this.#chunkBytes = Math.min(this.#chunkBytes, bytes);
    return limits;
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
