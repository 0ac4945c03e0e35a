import type { RunRecord, RunStatusView, RunStore } from '../ports/run-store.js';
import { runStatusView } from '../ports/run-store.js';

/** Filters of a run listing, by the status lockstep shows (`interrupted` included). */
export interface RunListing {
  readonly status?: RunStatusView;
  readonly sequence?: string;
  readonly limit?: number;
}

/** A listed run with the status lockstep shows for it. */
export interface ListedRun {
  readonly record: RunRecord;
  readonly status: RunStatusView;
}

/**
 * Lists runs newest first, filtered by shown status: `running` and `interrupted` are both stored as running and
 * told apart by whether a live process drives the run. Used by `lockstep runs` and the HTTP API alike.
 */
export async function listRuns(store: RunStore, listing: RunListing = {}): Promise<ListedRun[]> {
  const stored = listing.status === 'interrupted' ? 'running' : listing.status;
  // The store can apply the limit itself only when every record it returns is kept.
  const exact = listing.status !== 'running' && listing.status !== 'interrupted' && listing.sequence === undefined;
  const records = await store.list({ ...(stored ? { status: stored } : {}), ...(exact && listing.limit ? { limit: listing.limit } : {}) });
  const listed: ListedRun[] = [];
  for (const record of records) {
    if (listing.sequence !== undefined && record.sequence !== listing.sequence) continue;
    const status = runStatusView(record.status, record.status === 'running' && store.isDriven(record.runId));
    if (listing.status !== undefined && status !== listing.status) continue;
    listed.push({ record, status });
    if (listing.limit && listed.length >= listing.limit) break;
  }
  return listed;
}
