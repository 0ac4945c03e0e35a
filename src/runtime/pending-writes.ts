import type { RunEntry } from '../core/protocol/run-entry.js';
import type { RunRecord, RunStore, RunUpdate } from '../ports/run-store.js';
import type { TopicMessage } from '../ports/transport.js';

/** What one batch does to one run's record: its creation, new history entries and field updates. */
export interface Pending {
  create?: RunRecord;
  readonly entries: RunEntry[];
  update: { -readonly [K in keyof RunUpdate]: RunUpdate[K] };
  /** Id of the message being applied: dispatches name it as their cause. */
  cause?: string;
  /** The run's task commands (dispatches, cancels) produced in this batch, in order. */
  readonly sent: TopicMessage[];
  /** How many of `sent` have been checked against their topic's record limit. */
  checked: number;
}

export const newPending = (): Pending => ({ entries: [], update: {}, sent: [], checked: 0 });

/** The run's pending writes in this batch, created on first use. */
export function pendingFor(pending: Map<string, Pending>, runId: string): Pending {
  let p = pending.get(runId);
  if (!p) {
    p = newPending();
    pending.set(runId, p);
  }
  return p;
}

/** Writes a batch's pending changes to the run store, all runs at once. */
export async function persistPending(store: RunStore, pending: Map<string, Pending>): Promise<void> {
  const writes: Promise<void>[] = [];
  for (const [runId, p] of pending) {
    if (p.create) writes.push(store.create(p.create, p.entries).then(() => store.append(runId, [], p.update)));
    else if (p.entries.length > 0) writes.push(store.append(runId, p.entries, p.update));
  }
  await Promise.all(writes);
}
