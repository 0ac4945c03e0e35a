import { findSpec } from '../core/run/live-run.js';
import type { WaitingFact } from '../core/run/run-facts.js';
import type { Program } from '../core/step.js';
import type { RunQuery } from '../ports/run-service.js';
import type { RunCursor, RunRecord, RunStatusView } from '../ports/run-store.js';
import { waitingView } from '../ports/run-store.js';

/**
 * A wait in progress as the API shows it: the task, what it waits for (`signal`: a signal or a rejection; `time`: a
 * delay), since when and until when (ms since the epoch; absent: it never ends by itself), and for a signal wait
 * the JSON Schema its data must match, when it has one.
 */
export interface WaitingView {
  readonly task: string;
  readonly for: WaitingFact['for'];
  readonly since: number;
  readonly until?: number;
  readonly schema?: Readonly<Record<string, unknown>>;
}

/** The API's view of a wait in progress; `program`, when known, adds its signal schema. */
export function waitingOf(fact: WaitingFact, program?: Program): WaitingView {
  const spec = program ? findSpec(program, fact.taskId) : undefined;
  const wait = spec?.action.kind === 'wait' ? spec.action.wait : undefined;
  return {
    task: fact.taskId,
    for: fact.for,
    since: fact.since,
    ...(fact.until === undefined ? {} : { until: fact.until }),
    ...(wait?.for === 'signal' && wait.schema ? { schema: wait.schema } : {}),
  };
}

/** A listed run with the status lockstep shows for it, and the wait it is in when it waits. */
export interface ShownRun {
  readonly record: RunRecord;
  readonly status: RunStatusView;
  readonly waiting?: WaitingFact;
}

/** How many runs a filtered listing reads at a time while it tells waiting from running runs. */
const BATCH = 200;

/**
 * Lists runs as {@link RunQuery} asks, with `waiting` told apart from `running`: `list` gives each run's status
 * without it (or with it: a status already `waiting` stays), and `waitingOf` reads a running run's wait from its
 * history's facts. Filtered by `running` or `waiting`, the runs in flight are read a batch at a time until the
 * limit is reached, so each status lists exactly the runs shown with it. Used by `GET /api/runs` in either mode and
 * by `lockstep runs`.
 */
export async function listShownRuns(
  list: (query: RunQuery) => Promise<ReadonlyArray<{ readonly record: RunRecord; readonly status: RunStatusView }>>,
  waitingOf: (record: RunRecord) => Promise<WaitingFact | null | undefined>,
  query: RunQuery,
): Promise<ShownRun[]> {
  const shown = async (r: { record: RunRecord; status: RunStatusView }): Promise<ShownRun> => {
    if (r.status !== 'running' && r.status !== 'waiting') return r;
    const waiting = (await waitingOf(r.record)) ?? undefined;
    return { record: r.record, status: waitingView(r.status, waiting), ...(waiting ? { waiting } : {}) };
  };
  const wanted = query.status;
  if (wanted !== 'running' && wanted !== 'waiting') {
    const rows = await list(query);
    return Promise.all(rows.map(shown));
  }
  const limit = query.limit;
  const listed: ShownRun[] = [];
  let after: RunCursor | undefined = query.after;
  for (;;) {
    const batch = await list({ ...query, status: 'running', ...(after ? { after } : {}), limit: BATCH });
    for (const row of batch) {
      const run = await shown(row);
      if (run.status !== wanted) continue;
      listed.push(run);
      if (limit !== undefined && listed.length >= limit) return listed;
    }
    if (batch.length < BATCH) return listed;
    const last = batch[batch.length - 1]!.record;
    after = { createdAt: last.createdAt, runId: last.runId };
  }
}
