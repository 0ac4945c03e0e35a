import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { HistoryRecord } from '../../core/protocol/history-record.js';
import { parseHistoryRecord } from '../../core/protocol/history-record.js';
import { isFinalEntry } from '../../core/protocol/run-entry.js';
import type { RunState } from '../../core/protocol/run-state.js';
import { parseRunState } from '../../core/protocol/run-state.js';
import type { FeedRecord, TopicFeed, TopicFeedOptions } from '../../ports/transport.js';

/** How long a wait or a watch may take, and a signal that stops it. */
export interface WaitOptions {
  /** Gives up after this long. @default no limit */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** What {@link RunWatch} needs of Kafka: a feed, and which partition holds a run. */
export interface RunWatchDeps {
  readonly runsTopic: string;
  readonly historyTopic: string;
  readonly openFeed: (options: TopicFeedOptions) => Promise<TopicFeed>;
  readonly partitionOf: (topic: string, runId: string) => Promise<number>;
}

/** Final states kept for runs waited on already: a second wait answers at once. */
const FINALS_KEPT = 10_000;
/** Runs started through this client while its feed was following: waiting for them reads nothing again. */
const STARTED_KEPT = 100_000;
/** Waits between tries to open the feed again after a retriable failure; waits keep their own deadlines meanwhile. */
const REOPEN_BACKOFF_MS = [100, 250, 500, 1_000, 2_000];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const isRetriable = (error: unknown) => error instanceof LockstepError && error.retriable;

interface Lookup {
  state: RunState | undefined;
  offset: bigint;
}

/** A watch's entries in `seq` order, whatever order a partition read again delivers them in. */
class WatchQueue {
  readonly partition: number;
  readonly #pending = new Map<number, HistoryRecord>();
  readonly #ready: HistoryRecord[] = [];
  #next = 0;
  #wake?: () => void;
  ended = false;

  constructor(partition: number) {
    this.partition = partition;
  }

  add(record: HistoryRecord): void {
    if (record.seq < this.#next || this.ended) return;
    this.#pending.set(record.seq, record);
    this.#drain();
  }

  /** The partition was read from its start: a history the topic's retention cut begins at its first record kept. */
  rewound(): void {
    if (this.#pending.size > 0 && !this.#pending.has(this.#next)) this.#next = Math.min(...this.#pending.keys());
    this.#drain();
  }

  #drain(): void {
    for (let r = this.#pending.get(this.#next); r && !this.ended; r = this.#pending.get(this.#next)) {
      this.#pending.delete(this.#next);
      this.#next += 1;
      this.#ready.push(r);
      if (isFinalEntry(r.entry)) this.ended = true;
    }
    this.#wake?.();
  }

  take(): HistoryRecord | undefined {
    return this.#ready.shift();
  }

  get done(): boolean {
    return this.ended && this.#ready.length === 0;
  }

  next(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }
}

/** Rejects with lockstep's wait error once the time is up or the signal aborts; `clear` stops it. */
function deadline(runId: string, options: WaitOptions): { promise: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const promise = new Promise<never>((_, reject) => {
    const giveUp = (waited: string) =>
      reject(
        new LockstepError(
          ErrorCode.waitTimeout,
          `gave up waiting for run ${runId}: ${waited}; the run goes on (see it with \`lockstep status ${runId}\`)`,
          { retriable: true },
        ),
      );
    if (options.timeoutMs !== undefined)
      timer = setTimeout(() => giveUp(`it did not end within ${options.timeoutMs} ms`), options.timeoutMs);
    if (options.signal) {
      onAbort = () => giveUp('waiting was stopped');
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  promise.catch(() => {});
  return {
    promise,
    clear: () => {
      clearTimeout(timer);
      if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * Waits, watches and point lookups of runs, all through one {@link TopicFeed} opened on first use: the run-state
 * topic followed from its end, the history topic read only in the partitions a watch needs. A run this client
 * started while following is awaited from the feed alone; any other run's partition is read again from its start
 * (rewinds of one partition asked for together share one read), so a run that ended long ago is found too.
 */
export class RunWatch {
  readonly #deps: RunWatchDeps;
  #feed?: Promise<TopicFeed>;
  #following = false;
  readonly #finals = new Map<string, RunState>();
  readonly #started = new Set<string>();
  readonly #waiters = new Map<string, Set<(state: RunState) => void>>();
  /** The run-state partition of each run waited for: read again when a feed is opened again. */
  readonly #waitedPartitions = new Map<string, number>();
  #closed = false;
  #reopening = false;
  /** Reads under way: `close` lets them end first, so none opens a connection once the client is closed. */
  readonly #reads = new Set<Promise<unknown>>();
  readonly #lookups = new Map<string, Set<Lookup>>();
  readonly #watches = new Map<string, Set<WatchQueue>>();
  /** Watches per partition of the history topic: a partition no watch needs is paused. */
  readonly #watchedPartitions = new Map<number, number>();
  readonly #failures = new Set<(error: Error) => void>();

  constructor(deps: RunWatchDeps) {
    this.#deps = deps;
  }

  /** Call before publishing a run's start: once the feed follows, its records cannot precede what it reads. */
  noteStart(runId: string): void {
    if (!this.#following) return;
    if (this.#started.size >= STARTED_KEPT) this.#started.delete(this.#started.values().next().value as string);
    this.#started.add(runId);
  }

  async wait(runId: string, options: WaitOptions = {}): Promise<RunState> {
    const known = this.#finals.get(runId);
    if (known) return known;
    const limit = deadline(runId, options);
    let settle!: (state: RunState) => void;
    const ended = new Promise<RunState>((resolve) => {
      settle = resolve;
    });
    const waiters = this.#waiters.get(runId) ?? new Set();
    this.#waiters.set(runId, waiters);
    waiters.add(settle);
    let onFail: ((error: Error) => void) | undefined;
    const failed = new Promise<never>((_, reject) => {
      onFail = reject;
    });
    this.#failures.add(onFail!);
    let done = false;
    try {
      const read = (async () => {
        // The partition first: it says plainly when the topics do not exist.
        const partition = await this.#deps.partitionOf(this.#deps.runsTopic, runId);
        this.#waitedPartitions.set(runId, partition);
        // Started while following (and the feed has not stopped since: that clears the set), so nothing to read again.
        if (this.#started.delete(runId)) return;
        await this.#rewind(this.#deps.runsTopic, partition, () => done);
      })();
      this.#track(read);
      return await Promise.race([ended, limit.promise, failed, read.then(() => ended)]);
    } finally {
      done = true;
      limit.clear();
      this.#failures.delete(onFail!);
      waiters.delete(settle);
      if (waiters.size === 0 && this.#waiters.get(runId) === waiters) {
        this.#waiters.delete(runId);
        this.#waitedPartitions.delete(runId);
      }
    }
  }

  /** The run's latest state record, read through the feed: `undefined` for a run no orchestrator has started. */
  async status(runId: string): Promise<RunState | undefined> {
    const partition = await this.#deps.partitionOf(this.#deps.runsTopic, runId);
    const feed = await this.#open();
    const lookup: Lookup = { state: undefined, offset: -1n };
    const lookups = this.#lookups.get(runId) ?? new Set();
    this.#lookups.set(runId, lookups);
    lookups.add(lookup);
    try {
      await feed.rewind(this.#deps.runsTopic, partition);
      return lookup.state;
    } finally {
      lookups.delete(lookup);
      if (lookups.size === 0) this.#lookups.delete(runId);
    }
  }

  /** The run's history records as they are written, from its first, ending after its final entry. */
  async *watch(runId: string, options: WaitOptions = {}): AsyncGenerator<HistoryRecord> {
    const partition = await this.#deps.partitionOf(this.#deps.historyTopic, runId);
    const queue = new WatchQueue(partition);
    const queues = this.#watches.get(runId) ?? new Set();
    this.#watches.set(runId, queues);
    queues.add(queue);
    this.#watchedPartitions.set(partition, (this.#watchedPartitions.get(partition) ?? 0) + 1);
    const limit = deadline(runId, options);
    let onFail: ((error: Error) => void) | undefined;
    const failed = new Promise<never>((_, reject) => {
      onFail = reject;
    });
    failed.catch(() => {});
    this.#failures.add(onFail!);
    let done = false;
    try {
      const read = this.#rewind(this.#deps.historyTopic, partition, () => done).then(() => queue.rewound());
      this.#track(read);
      const readFailed = read.then(() => new Promise<void>(() => {}));
      while (!queue.done) {
        const record = queue.take();
        if (record) {
          yield record;
          continue;
        }
        await Promise.race([queue.next(), limit.promise, failed, readFailed]);
      }
    } finally {
      done = true;
      limit.clear();
      this.#failures.delete(onFail!);
      queues.delete(queue);
      if (queues.size === 0) this.#watches.delete(runId);
      const left = (this.#watchedPartitions.get(partition) ?? 1) - 1;
      if (left > 0) this.#watchedPartitions.set(partition, left);
      else {
        this.#watchedPartitions.delete(partition);
        (await this.#feed?.catch(() => undefined))?.pause(this.#deps.historyTopic, partition);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const closed = new LockstepError(ErrorCode.transportUnavailable, 'the client was closed while waiting', { retriable: false });
    for (const fail of [...this.#failures]) fail(closed);
    await Promise.allSettled([...this.#reads]);
    const feed = this.#feed;
    this.#feed = undefined;
    this.#following = false;
    if (feed) await (await feed.catch(() => undefined))?.close();
  }

  #open(): Promise<TopicFeed> {
    if (this.#closed)
      return Promise.reject(new LockstepError(ErrorCode.transportUnavailable, 'the client is closed', { retriable: false }));
    if (!this.#feed) {
      const opening = this.#deps.openFeed({
        topics: [this.#deps.runsTopic, this.#deps.historyTopic],
        onDemand: [this.#deps.historyTopic],
        onRecord: (record) => this.#onRecord(record),
        onFail: (error) => this.#onFail(error),
      });
      this.#feed = opening;
      opening.then(
        () => {
          if (this.#feed === opening) this.#following = true;
        },
        () => {
          // The next call tries again.
          if (this.#feed === opening) this.#feed = undefined;
        },
      );
    }
    return this.#feed;
  }

  #track(read: Promise<unknown>): void {
    read.catch(() => {});
    this.#reads.add(read);
    void read.finally(() => this.#reads.delete(read)).catch(() => {});
  }

  /**
   * Reads a partition again through the feed; while that fails on a retriable error (the feed stopped, the broker is
   * away), opens the feed again and tries on, until `gone()` (the wait or watch ended).
   */
  async #rewind(topic: string, partition: number, gone: () => boolean): Promise<void> {
    for (let attempt = 0; !gone() && !this.#closed; attempt++) {
      try {
        await (await this.#open()).rewind(topic, partition);
        return;
      } catch (error) {
        if (this.#closed || !isRetriable(error)) throw error;
        await sleep(REOPEN_BACKOFF_MS[Math.min(attempt, REOPEN_BACKOFF_MS.length - 1)]!);
      }
    }
  }

  #onFail(error: Error): void {
    this.#feed = undefined;
    this.#following = false;
    this.#started.clear();
    const failure =
      error instanceof LockstepError
        ? error
        : new LockstepError(ErrorCode.transportUnavailable, `the client stopped following runs: ${error.message}`, {
            retriable: true,
            cause: error,
          });
    if (failure.retriable && !this.#closed) void this.#reopen();
    else for (const fail of [...this.#failures]) fail(failure);
  }

  /**
   * After a retriable failure: a new feed starts at the topics' end, so every partition a wait or a watch needs is
   * read again from its start (what the waits saw already is seen again, and a watch drops what it yielded).
   */
  async #reopen(): Promise<void> {
    if (this.#reopening) return;
    this.#reopening = true;
    try {
      const ends = () => this.#closed || (this.#waiters.size === 0 && this.#watches.size === 0);
      const runs = new Set(this.#waitedPartitions.values());
      const watched = [...this.#watches.values()].flatMap((queues) => [...queues]);
      await Promise.all([
        ...[...runs].map((p) => this.#rewind(this.#deps.runsTopic, p, ends)),
        ...[...new Set(watched.map((q) => q.partition))].map((p) =>
          this.#rewind(this.#deps.historyTopic, p, ends).then(() => {
            for (const q of watched) if (q.partition === p) q.rewound();
          }),
        ),
      ]);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const fail of [...this.#failures]) fail(failure);
    } finally {
      this.#reopening = false;
    }
  }

  #onRecord(record: FeedRecord): void {
    if (record.key === null) return;
    if (record.topic === this.#deps.runsTopic) this.#onState(record.key, record);
    else if (record.value !== null && this.#watches.has(record.key)) {
      const parsed = parseHistoryRecord(record.value);
      if (parsed.success && parsed.record.runId === record.key) for (const q of this.#watches.get(record.key) ?? []) q.add(parsed.record);
    }
  }

  #onState(runId: string, record: FeedRecord): void {
    const lookups = this.#lookups.get(runId);
    const waiters = this.#waiters.get(runId);
    if (!lookups && !waiters) return;
    const parsed = record.value === null ? undefined : parseRunState(record.value);
    if (parsed && !parsed.success) return;
    const state = parsed?.state;
    const offset = BigInt(record.offset);
    // A partition read again delivers older records after newer ones: the latest offset wins.
    for (const lookup of lookups ?? []) {
      if (offset < lookup.offset) continue;
      lookup.offset = offset;
      lookup.state = state;
    }
    if (!state || state.status === 'running' || !waiters) return;
    if (this.#finals.size >= FINALS_KEPT) this.#finals.delete(this.#finals.keys().next().value as string);
    this.#finals.set(runId, state);
    for (const settle of [...waiters]) settle(state);
  }
}
