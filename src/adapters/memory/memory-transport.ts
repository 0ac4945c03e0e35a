import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { Envelope } from '../../core/protocol/envelope.js';
import type {
  BatchContext,
  BatchHandler,
  ConsumedMessage,
  SubscribeOptions,
  Subscription,
  TopicMessage,
  Transport,
} from '../../ports/transport.js';

interface Member {
  readonly handler: BatchHandler;
  readonly queue: ConsumedMessage[];
  /** Deferred messages not yet completed: redelivered to another member if this one closes. */
  readonly held: Set<ConsumedMessage>;
  readonly context: BatchContext;
  draining: boolean;
  closed: boolean;
  readonly where: { readonly topic: string; readonly group: string };
  /** Failed deliveries of the batch at the head of the queue, in a row. */
  failures: number;
}

interface Group {
  readonly members: Member[];
  /** Messages for the group while it has no member (as Kafka keeps a group's position); the next member gets them. */
  backlog: ConsumedMessage[];
}

interface Topic {
  readonly groups: Map<string, Group>;
  /** Messages published before any group subscribed; the first group gets them. */
  backlog: ConsumedMessage[];
  offset: number;
}

export interface MemoryTransportOptions {
  /** Most messages handed to a handler at once. @default 256 */
  readonly maxBatch?: number;
  /** Delay before a failed batch is redelivered the first time; it doubles with each failure. @default 50 */
  readonly redeliveryDelayMs?: number;
  /** Redeliveries of a batch whose handler keeps failing with a retriable error, before the member stops. @default 5 */
  readonly maxRedeliveries?: number;
  /**
   * Called when a member stops because its handler failed for good: at once for a non-retriable
   * `LockstepError` (a full or read-only store, say), or after `maxRedeliveries` for any other error. The member's
   * messages stay queued, undelivered. @default rethrows the error outside the transport (an uncaught exception)
   */
  readonly onError?: (error: unknown, where: { readonly topic: string; readonly group: string }) => void;
}

/** Whether redelivering a batch may help: an error that says it is retriable, or one that says nothing. */
const mayRetry = (error: unknown): boolean => !(error instanceof LockstepError) || error.retriable;

function hash(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return h >>> 0;
}

/**
 * The embedded transport: topics and consumer groups in one process. Messages of one key reach one member in
 * order; a batch whose handler throws a retriable error is redelivered (at least once), a bounded number of times
 * with a growing delay. A handler that fails for good stops its member and is reported to `onError`: nothing is
 * retried for ever, and no failure is swallowed. Envelopes are passed by reference.
 */
export class MemoryTransport implements Transport {
  readonly #topics = new Map<string, Topic>();
  readonly #maxBatch: number;
  readonly #redeliveryDelayMs: number;
  readonly #maxRedeliveries: number;
  readonly #onError: NonNullable<MemoryTransportOptions['onError']>;
  #closed = false;

  constructor(options: MemoryTransportOptions = {}) {
    this.#maxBatch = options.maxBatch ?? 256;
    this.#redeliveryDelayMs = options.redeliveryDelayMs ?? 50;
    this.#maxRedeliveries = options.maxRedeliveries ?? 5;
    this.#onError =
      options.onError ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
  }

  #topic(name: string): Topic {
    let topic = this.#topics.get(name);
    if (!topic) {
      topic = { groups: new Map(), backlog: [], offset: 0 };
      this.#topics.set(name, topic);
    }
    return topic;
  }

  async publish(messages: readonly TopicMessage[]): Promise<void> {
    if (this.#closed) throw new LockstepError(ErrorCode.transportUnavailable, 'the in-process transport is closed');
    for (const m of messages) {
      const topic = this.#topic(m.topic);
      const isEnvelope =
        m.value !== null &&
        m.value.type !== 'dead-letter' &&
        m.value.type !== 'run.state' &&
        m.value.type !== 'partition.offset' &&
        m.value.type !== 'run.entry';
      const raw = isEnvelope || m.value === null ? undefined : JSON.stringify(m.value);
      const consumed: ConsumedMessage = {
        topic: m.topic,
        key: m.key,
        value: isEnvelope ? (m.value as Envelope) : null,
        raw,
        partition: 0,
        offset: String(topic.offset++),
      };
      if (topic.groups.size === 0) {
        topic.backlog.push(consumed);
        continue;
      }
      for (const group of topic.groups.values()) {
        const members = group.members;
        if (members.length === 0) {
          group.backlog.push(consumed);
          continue;
        }
        const member = members.length === 1 ? members[0]! : members[hash(m.key) % members.length]!;
        member.queue.push(consumed);
        this.#schedule(member);
      }
    }
  }

  async subscribe(options: SubscribeOptions, handler: BatchHandler): Promise<Subscription> {
    const topic = this.#topic(options.topic);
    let group = topic.groups.get(options.group);
    if (!group) {
      group = { members: [], backlog: [] };
      topic.groups.set(options.group, group);
    }
    const held = new Set<ConsumedMessage>();
    const context: BatchContext = {
      defer: (message) => {
        held.add(message);
        return async (messages) => {
          if (member.closed || !held.delete(message)) return;
          if (messages.length > 0) await this.publish(messages);
        };
      },
    };
    const member: Member = {
      handler,
      queue: [...group.backlog, ...topic.backlog],
      held,
      context,
      draining: false,
      closed: false,
      failures: 0,
      where: { topic: options.topic, group: options.group },
    };
    group.backlog = [];
    topic.backlog = [];
    group.members.push(member);
    await options.onAssigned?.([0]);
    this.#schedule(member);
    return {
      close: async () => {
        member.closed = true;
        const members = group.members;
        members.splice(members.indexOf(member), 1);
        // Hand undelivered messages to a remaining member, as a rebalance would.
        const heir = members.find((m) => !m.closed);
        if (heir) {
          heir.queue.push(...member.held, ...member.queue);
          this.#schedule(heir);
        } else {
          group.backlog.push(...member.held, ...member.queue);
        }
        member.held.clear();
      },
    };
  }

  #schedule(member: Member): void {
    if (member.draining || member.closed || member.queue.length === 0) return;
    member.draining = true;
    queueMicrotask(() => void this.#drain(member));
  }

  async #drain(member: Member): Promise<void> {
    while (!member.closed && member.queue.length > 0) {
      const batch = member.queue.splice(0, this.#maxBatch);
      try {
        const out = await member.handler(batch, member.context);
        if (out.length > 0) await this.publish(out);
        member.failures = 0;
      } catch (error) {
        member.queue.unshift(...batch);
        member.draining = false;
        member.failures++;
        if (mayRetry(error) && member.failures <= this.#maxRedeliveries && !this.#closed) {
          setTimeout(() => this.#schedule(member), this.#redeliveryDelayMs * 2 ** (member.failures - 1));
          return;
        }
        member.closed = true;
        if (!this.#closed) this.#onError(error, member.where);
        return;
      }
    }
    member.draining = false;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const topic of this.#topics.values()) {
      for (const group of topic.groups.values()) for (const m of group.members) m.closed = true;
    }
  }
}
