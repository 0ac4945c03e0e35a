import type { DeadLetter, Envelope } from '../core/protocol/envelope.js';

/** A message on a topic, keyed by run id so that one run's messages stay in order. */
export interface TopicMessage {
  readonly topic: string;
  readonly key: string;
  readonly value: Envelope | DeadLetter;
}

/** A message as consumed: the envelope, or the raw text when it did not parse (it goes to the dead-letter topic). */
export interface ConsumedMessage {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Envelope | null;
  /** The text as received; `undefined` when the transport passed the envelope in memory. */
  readonly raw: string | undefined;
  readonly partition: number;
  readonly offset: string;
}

/**
 * Processes a batch and returns the messages to publish. The transport publishes them atomically with the
 * acknowledgement of the batch (a Kafka transaction), or redelivers the batch if the handler throws.
 */
export type BatchHandler = (batch: readonly ConsumedMessage[]) => Promise<readonly TopicMessage[]>;

export interface Subscription {
  close(): Promise<void>;
}

/** Options of a subscription. */
export interface SubscribeOptions {
  readonly topic: string;
  /** Consumers sharing a group split the topic's partitions. */
  readonly group: string;
  /** Called with the partitions this member now owns, before their first batch (to restore run state). */
  readonly onAssigned?: (partitions: readonly number[]) => Promise<void>;
}

/** How messages move between orchestrators, workers and clients. Memory (embedded) and Kafka implement it. */
export interface Transport {
  publish(messages: readonly TopicMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription>;
  close(): Promise<void>;
}
