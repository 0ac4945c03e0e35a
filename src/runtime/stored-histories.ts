import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Sequence } from '../core/sequence/types.js';
import { loadSequenceText } from '../core/sequence/validate.js';
import type { RunStore } from '../ports/run-store.js';

/** One stored run's whole history, with the sequence it started with, for the history checker. */
export interface StoredHistory {
  readonly runId: string;
  readonly entries: readonly RunEntry[];
  /** Compiled from the definition the store kept for the run; absent when that no longer validates. */
  readonly sequence?: Sequence;
  /** Whether a live process drives the run now: a run that has not ended may then still be going. */
  readonly driven: boolean;
}

/** Every run of a store, oldest first, with its history and the sequence of the definition it started with. */
export async function storedHistories(store: RunStore): Promise<StoredHistory[]> {
  const records = (await store.list()).reverse();
  const sequences = new Map<string, Sequence | undefined>();
  const sequenceOf = (hash: string, text: string) => {
    if (!sequences.has(hash)) {
      try {
        sequences.set(hash, loadSequenceText(text));
      } catch {
        sequences.set(hash, undefined);
      }
    }
    return sequences.get(hash);
  };
  const out: StoredHistory[] = [];
  for (const record of records) {
    const stored = await store.get(record.runId);
    if (!stored) continue;
    const sequence = sequenceOf(record.definitionHash, record.definition);
    out.push({
      runId: record.runId,
      entries: stored.history,
      ...(sequence ? { sequence } : {}),
      driven: record.status === 'running' && store.isDriven(record.runId),
    });
  }
  return out;
}
