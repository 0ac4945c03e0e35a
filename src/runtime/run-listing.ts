import { ErrorCode, LockstepError } from '../core/errors.js';
import type { RunCursor, RunFilter, RunRecord, RunStatusView, RunStore } from '../ports/run-store.js';
import { runStatusView } from '../ports/run-store.js';

/** Filters of a run listing, by the status lockstep shows (`interrupted` included). */
export interface RunListing extends Omit<RunFilter, 'status'> {
  readonly status?: RunStatusView;
}

/** A listed run with the status lockstep shows for it. */
export interface ListedRun {
  readonly record: RunRecord;
  readonly status: RunStatusView;
}

/** How many records a listing reads from the store at a time while it tells running from interrupted runs. */
const BATCH = 200;

/**
 * Lists runs newest first, filtered by shown status: `running` and `interrupted` are both stored as running and
 * told apart by whether a live process drives the run, so for those two the store is read a batch at a time until
 * the limit is reached. Used by `lockstep runs`, `lockstep show <prefix>` and the HTTP API alike.
 */
export async function listRuns(store: RunStore, listing: RunListing = {}): Promise<ListedRun[]> {
  const { status: shown, ...rest } = listing;
  // A waiting run is stored running too; its wait is told from its history (see listShownRuns in src/http).
  const stored = shown === 'interrupted' || shown === 'waiting' ? 'running' : shown;
  const filter: RunFilter = { ...rest, ...(stored ? { status: stored } : {}) };
  const viewOf = (record: RunRecord): ListedRun => ({
    record,
    status: runStatusView(record.status, record.status === 'running' && store.isDriven(record.runId)),
  });
  // The store applies the limit itself when every record it returns is kept.
  if (stored !== 'running') return (await store.list(filter)).map(viewOf);
  const listed: ListedRun[] = [];
  let after: RunCursor | undefined = filter.after;
  for (;;) {
    const batch = await store.list({ ...filter, ...(after ? { after } : {}), limit: BATCH });
    for (const record of batch) {
      const run = viewOf(record);
      if (run.status !== shown) continue;
      listed.push(run);
      if (listing.limit && listed.length >= listing.limit) return listed;
    }
    if (batch.length < BATCH) return listed;
    const last = batch[batch.length - 1]!;
    after = { createdAt: last.createdAt, runId: last.runId };
  }
}

/** How many runs an ambiguous prefix names at most in its error. */
const SHOWN_MATCHES = 10;

/**
 * The run a command names by its id or a unique prefix of it: an exact id wins; otherwise the one run whose id
 * starts with `prefix`. `where` names the store in errors.
 *
 * @throws LockstepError `UNKNOWN_RUN` when no run matches, `INVALID_USAGE` (listing the matches) when several do.
 */
export async function resolveRunId(store: RunStore, prefix: string, where: string): Promise<string> {
  if (await store.get(prefix)) return prefix;
  const matches = await store.list({ idPrefix: prefix, limit: SHOWN_MATCHES + 1 });
  if (matches.length === 1) return matches[0]!.runId;
  if (matches.length === 0)
    throw new LockstepError(ErrorCode.unknownRun, `unknown run ${prefix} in ${where} (list runs with \`lockstep runs\`)`);
  const listed = matches.slice(0, SHOWN_MATCHES).map((r) => `  ${r.runId}  ${r.sequence}  ${new Date(r.createdAt).toISOString()}`);
  const more = matches.length > SHOWN_MATCHES ? '\n  … and more: type more of the id' : '';
  throw new LockstepError(
    ErrorCode.invalidUsage,
    `run id prefix "${prefix}" is ambiguous in ${where}: it matches ${matches.length > SHOWN_MATCHES ? `more than ${SHOWN_MATCHES}` : matches.length} runs\n${listed.join('\n')}${more}`,
  );
}
