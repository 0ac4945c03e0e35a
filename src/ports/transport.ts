import type { LockstepError } from '../core/errors.js';
import type { DefinitionRecord } from '../core/protocol/definition-record.js';
import type { DeadLetter, Envelope } from '../core/protocol/envelope.js';
import type { HistoryRecord } from '../core/protocol/history-record.js';
import type { LogRecord } from '../core/protocol/log-record.js';
import type { PartitionOffset } from '../core/protocol/partition-offset.js';
import type { RunState } from '../core/protocol/run-state.js';

/** A message on a topic, keyed by run id so that one run's messages stay in order. */
export interface TopicMessage {
  readonly topic: string;
  readonly key: string;
  /**
   * An envelope, a dead letter, a run's state or a partition's offset (both on the compacted run-state topic), a
   * history entry (on the history topic), a definition (on the compacted definitions topic), or `null`: a
   * tombstone, which deletes the key from a compacted topic; or an attempt's log lines (on the log topic).
   */
  readonly value: Envelope | DeadLetter | RunState | PartitionOffset | HistoryRecord | DefinitionRecord | LogRecord | null;
  /** Sends to this partition instead of the key's. */
  readonly partition?: number;
}

/** A message as consumed: the envelope, or the raw text when it did not parse (it goes to the dead-letter topic). */
export interface ConsumedMessage {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Envelope | null;
  /** The text as received; `undefined` when the transport passed the envelope in memory. */
  readonly raw: string | undefined;
  /** When `value` is null: why the text is not an envelope (`payload.taskId: required`, `not JSON: ...`). */
  readonly reason?: string;
  readonly partition: number;
  readonly offset: string;
}

/** A record read back from a topic (see {@link DurableLog.readPartitions}); `value` is null for a tombstone. */
export interface StoredMessage {
  readonly key: string | null;
  readonly value: string | null;
  readonly partition: number;
  readonly offset: string;
}

/**
 * Finishes a deferred message: publishes `messages`, then acknowledges the message. Until then the message is
 * not acknowledged, so it is delivered again (to this group) if the subscriber dies or closes first.
 */
export type CompleteDeferred = (messages: readonly TopicMessage[]) => Promise<void>;

/** What a handler can do besides returning messages. */
export interface BatchContext {
  /**
   * Holds back the acknowledgement of one message of the batch past the handler's return, e.g. a task that
   * runs for minutes. The rest of the batch is acknowledged as usual and consumption goes on.
   */
  defer(message: ConsumedMessage): CompleteDeferred;
}

/**
 * Processes a batch and returns the messages to publish. The transport publishes them atomically with the
 * acknowledgement of the batch (a Kafka transaction), or redelivers the batch if the handler throws.
 */
export type BatchHandler = (batch: readonly ConsumedMessage[], context: BatchContext) => Promise<readonly TopicMessage[]>;

export interface Subscription {
  close(): Promise<void>;
}

/**
 * How a subscription acknowledges batches.
 * - `exactly-once`: the handler's messages and the acknowledgement commit together or not at all, and a member
 *   that lost its partitions can no longer commit (orchestrators).
 * - `at-least-once`: the messages are published, then the batch is acknowledged (workers).
 */
export type Delivery = 'exactly-once' | 'at-least-once';

/** Options of a subscription. */
export interface SubscribeOptions {
  readonly topic: string;
  /** Consumers sharing a group split the topic's partitions. */
  readonly group: string;
  /**
   * Called with partitions this member newly owns, before their first batch. A partition given back through
   * `onRevoked` comes back here before it is consumed again.
   */
  readonly onAssigned?: (partitions: readonly number[]) => Promise<void>;
  /**
   * Called with partitions this member no longer owns, or whose last batch could not be acknowledged after the
   * handler ran: state derived from them must be dropped (their batches are delivered again). At least once: the
   * work of their deferred messages must stop, and the promise resolves once it has ended; until then the
   * partitions' next owner does not receive those messages, so one message's work never runs on two members at once.
   */
  readonly onRevoked?: (partitions: readonly number[]) => Promise<void>;
  /** @default 'exactly-once' */
  readonly delivery?: Delivery;
}

/** How messages move between orchestrators, workers and clients. Memory (embedded) and Kafka implement it. */
export interface Transport {
  publish(messages: readonly TopicMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription>;
  close(): Promise<void>;
}

/** Options of a subscription to a {@link DurableLog}: what only a log that keeps its records can offer. */
export interface DurableSubscribeOptions extends Omit<SubscribeOptions, 'onAssigned'> {
  /**
   * Called with partitions this member newly owns, before their first batch (to restore run state). With
   * `offsetRecord`, it returns the positions it read back from those records. A partition given back through
   * `onRevoked` comes back here before it is consumed again.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a listener that returns nothing is the common case
  readonly onAssigned?: (partitions: readonly number[]) => Promise<void | ReadonlyMap<number, string>>;
  /**
   * Exactly-once only: keep each partition's position as a record of the batch's own output (the message this
   * returns, given the partition and the next offset to consume) instead of committing it to the group inside
   * the transaction, which saves the transaction two round trips. `onAssigned` must then return the positions it
   * read back from those records; consumption starts at the later of that and the group's committed offset,
   * which is still committed outside the transaction, now and then, for lag monitoring.
   */
  readonly offsetRecord?: (partition: number, nextOffset: string) => TopicMessage;
  /**
   * Exactly-once only: called when the broker refused one of the batch's output records for a reason that sending
   * it again cannot change (`error.code` `RECORD_TOO_LARGE` or `RECORD_REJECTED`). The batch is then delivered
   * again, as after any failed transaction: the handler must not produce that record again (it fails the run it
   * belongs to), or the partition would be stuck on it.
   */
  readonly onRejected?: (record: TopicMessage, error: LockstepError) => void;
}

/**
 * A transport whose topics keep their records (Kafka): partitions can be read back, each topic has a record limit,
 * and a subscription can keep its position in its own output and hear of records the broker refused.
 */
export interface DurableLog extends Transport {
  subscribe(options: DurableSubscribeOptions, handler: BatchHandler): Promise<Subscription>;
  /**
   * Reads partitions of a topic from their beginning up to their end as of the call (committed messages only),
   * e.g. to restore the run states of newly assigned partitions from the compacted run-state topic.
   */
  readPartitions(topic: string, partitions: readonly number[]): Promise<StoredMessage[]>;
  /**
   * The largest record each of `topics` accepts, in UTF-8 bytes of its key and value (the transport's own framing
   * already taken off), as the broker says now.
   */
  recordLimits(topics: readonly string[]): Promise<ReadonlyMap<string, number>>;
}

/** Where a dead letter's text came from: a consumed message, or a record read back from a topic. */
export interface DeadLetterSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  /** The whole text as received. */
  readonly raw: string;
}

/** What {@link TopicFeed} delivers: a committed record of one of its topics. */
export interface FeedRecord extends StoredMessage {
  readonly topic: string;
}

/** Options of a {@link TopicFeed}. */
export interface TopicFeedOptions {
  readonly topics: readonly string[];
  /** Topics read from their first record rather than from their end. */
  readonly fromStart?: readonly string[];
  /** Topics whose partitions are read only from a {@link TopicFeed.rewind} until {@link TopicFeed.pause}. */
  readonly onDemand?: readonly string[];
  /** Called with each record, in offset order per partition; a partition read again delivers its records again. */
  readonly onRecord: (record: FeedRecord) => void;
  /** Called once when the feed stops for good (an error that retrying cannot mend). */
  readonly onFail: (error: Error) => void;
}

/**
 * One long-lived subscription to whole topics, from their end at the start of the feed (or their beginning): a reader follows any number
 * of runs through it, and reads one partition again from its beginning (a point lookup) without a new subscription.
 */
export interface TopicFeed {
  /**
   * Reads `partition` of `topic` again from its first record (and then on, as before); resolves once every record
   * committed before the call has been delivered. Rewinds asked for together share one read.
   */
  rewind(topic: string, partition: number): Promise<void>;
  /** Stops delivering a partition of an on-demand topic, until the next rewind of it. */
  pause(topic: string, partition: number): void;
  close(): Promise<void>;
}
