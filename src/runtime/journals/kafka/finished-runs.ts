/** How many finished runs {@link FinishedRuns} keeps track of, in all partitions, before it forgets the oldest. */
const MAX_TRACKED = 500_000;

interface Queue {
  readonly runIds: string[];
  readonly at: number[];
  head: number;
}

/**
 * Kafka mode: the finished runs of each events partition this orchestrator owns, oldest first, so that their
 * state records can be deleted (a tombstone on the compacted run-state topic) once they are older than the
 * retention. Without that, the topic, and the time it takes to restore a partition, would grow with every run
 * ever started.
 *
 * Memory is bounded: past `maxTracked` runs (500,000 by default) the oldest are dropped here. Their records stay until the
 * partition is next restored, which tracks every finished run it reads again.
 */
export class FinishedRuns {
  readonly #queues = new Map<number, Queue>();
  /** When each tracked run ended. */
  readonly #ended = new Map<string, number>();
  readonly #keepMs: number;
  readonly #max: number;
  #size = 0;

  /**
   * @param keepMs how long a finished run's state is kept after it ended
   * @param maxTracked runs tracked at most, in all partitions
   */
  constructor(keepMs: number, maxTracked = MAX_TRACKED) {
    this.#keepMs = keepMs;
    this.#max = maxTracked;
  }

  /** Adds a run that ended at `at` (ms since the epoch); runs of a partition should come in the order they ended. */
  track(partition: number, runId: string, at: number): void {
    let queue = this.#queues.get(partition);
    if (!queue) {
      queue = { runIds: [], at: [], head: 0 };
      this.#queues.set(partition, queue);
    }
    queue.runIds.push(runId);
    queue.at.push(at);
    this.#ended.set(runId, at);
    this.#size++;
    if (this.#size > this.#max) this.#dropOldest();
  }

  /** Removes and returns up to `limit` runs of `partition` whose retention ran out by `now`. */
  due(partition: number, now: number, limit: number): string[] {
    const queue = this.#queues.get(partition);
    const out: string[] = [];
    if (!queue) return out;
    let taken = 0;
    while (out.length < limit && queue.head < queue.runIds.length && queue.at[queue.head]! + this.#keepMs <= now) {
      const runId = queue.runIds[queue.head]!;
      // Tracked again since (restored after a revoke): that later entry is the one that counts.
      if (this.#ended.get(runId) === queue.at[queue.head]) {
        out.push(runId);
        this.#ended.delete(runId);
      }
      queue.head++;
      taken++;
    }
    this.#size -= taken;
    this.#compact(partition, queue);
    return out;
  }

  /** Forgets the runs of partitions this orchestrator no longer owns. */
  drop(partitions: readonly number[]): void {
    for (const p of partitions) {
      const queue = this.#queues.get(p);
      if (!queue) continue;
      this.#size -= queue.runIds.length - queue.head;
      for (let i = queue.head; i < queue.runIds.length; i++) this.#ended.delete(queue.runIds[i]!);
      this.#queues.delete(p);
    }
  }

  /** True while a run that ended is kept: a new start with its id is a duplicate. */
  has(runId: string): boolean {
    return this.#ended.has(runId);
  }

  /** Runs tracked, in all partitions. */
  get size(): number {
    return this.#size;
  }

  #dropOldest(): void {
    let oldest: [number, Queue] | undefined;
    for (const entry of this.#queues) {
      const q = entry[1];
      if (q.head < q.runIds.length && (!oldest || q.at[q.head]! < oldest[1].at[oldest[1].head]!)) oldest = entry;
    }
    if (!oldest) return;
    const [, q] = oldest;
    if (this.#ended.get(q.runIds[q.head]!) === q.at[q.head]) this.#ended.delete(q.runIds[q.head]!);
    q.head++;
    this.#size--;
    this.#compact(oldest[0], oldest[1]);
  }

  #compact(partition: number, queue: Queue): void {
    if (queue.head === queue.runIds.length) {
      this.#queues.delete(partition);
    } else if (queue.head > 1024 && queue.head * 2 > queue.runIds.length) {
      queue.runIds.splice(0, queue.head);
      queue.at.splice(0, queue.head);
      queue.head = 0;
    }
  }
}
