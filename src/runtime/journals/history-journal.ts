import { randomUUID } from 'node:crypto';
import type { EventsSource, Journal, JournalBatch, RunHost } from '../../ports/journal.js';
import type { Release, RunStore, StoredRun } from '../../ports/run-store.js';
import type { BatchHandler, Subscription, TopicMessage, Transport } from '../../ports/transport.js';

/** Options of {@link HistoryJournal}. */
export interface HistoryJournalOptions {
  /** Where runs are recorded: their record, and their history with the state after each entry. */
  readonly store: RunStore;
  /** Carries the events topic the orchestrator consumes. */
  readonly transport: Transport;
  /** Identifies this process in run locks. @default a random id */
  readonly owner?: string;
}

/**
 * The journal of embedded mode: each batch's changes go to a run store (memory, SQLite) before its commands go out,
 * and a run lock in the store says which process drives a run. Nothing is restored when the orchestrator starts:
 * a run whose process died is continued by `resume`, from its history.
 */
export class HistoryJournal implements Journal {
  readonly #store: RunStore;
  readonly #transport: Transport;
  readonly #owner: string;

  constructor(options: HistoryJournalOptions) {
    this.#store = options.store;
    this.#transport = options.transport;
    this.#owner = options.owner ?? `orchestrator-${randomUUID()}`;
  }

  subscribe(events: EventsSource, _host: RunHost, handler: BatchHandler): Promise<Subscription> {
    return this.#transport.subscribe({ topic: events.topic, group: events.group }, handler);
  }

  claim(runId: string): Promise<Release> {
    return this.#store.lock(runId, this.#owner);
  }

  /** A store keeps every run: a start with a known id fails when it is created. */
  remembers(_runId: string): boolean {
    return false;
  }

  load(runId: string): Promise<StoredRun | undefined> {
    return this.#store.get(runId);
  }

  /** A store takes whatever a run records. */
  blocked(): undefined {
    return undefined;
  }

  unfit(): undefined {
    return undefined;
  }

  /** Writes the batch's changes to the store, all runs at once; resolves once they are durable. */
  async write(batch: JournalBatch): Promise<readonly TopicMessage[]> {
    const writes: Promise<void>[] = [];
    for (const [runId, changes] of batch.runs) {
      const entries = changes.entries.map((e) => e.entry);
      const states = changes.entries.map((e) => e.state);
      if (changes.create) {
        writes.push(this.#store.create(changes.create, entries, states).then(() => this.#store.append(runId, [], changes.update)));
      } else if (entries.length > 0) {
        writes.push(this.#store.append(runId, entries, changes.update, states));
      }
    }
    await Promise.all(writes);
    return [];
  }
}
