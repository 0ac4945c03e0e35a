import type { Command } from 'commander';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { WaitingFact } from '../../core/run/run-facts.js';
import { formatDuration } from '../../core/sequence/duration.js';
import { listShownRuns } from '../../http/waiting.js';
import type { RunRecord, RunStatusView, RunStore } from '../../ports/run-store.js';
import { RUN_STATUS_VIEWS, runStatusView, waitingView } from '../../ports/run-store.js';
import { listRuns } from '../../runtime/run-listing.js';
import type { CliContext } from '../context.js';
import type { WaitingJson } from '../report/waiting.js';
import { waitingIn, waitingJson, waitingWords } from '../report/waiting.js';
import { openStore } from '../store.js';

interface RunsOptions {
  status?: string;
  limit?: string;
  json?: boolean;
  store?: string;
}

const DEFAULT_LIMIT = 20;

/** A run as `lockstep runs --json` prints it: the record without its definition text, with derived fields. */
export interface RunSummary {
  readonly runId: string;
  readonly sequence: string;
  readonly version: string;
  /**
   * `interrupted`: marked running, but no live process drives it; `lockstep resume` continues it. `waiting`: a wait
   * task is in progress (see `waiting`).
   */
  readonly status: RunStatusView;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** From start to the last recorded event. */
  readonly durationMs: number;
  /** The task in flight (running) or the task that failed the run. */
  readonly task?: string;
  readonly reason?: string;
  readonly rerunOf?: string;
  readonly source?: string;
  readonly definitionHash: string;
  /** The wait in progress: its task, what it waits for (`signal` or `time`), since and until when (ms). */
  readonly waiting?: WaitingJson;
}

/**
 * Summarises a run for listings; `status`, when known, is its shown status (else it is derived from the store, where
 * `waiting` needs the run's wait: `waiting`).
 */
export function runSummary(record: RunRecord, store: RunStore, status?: RunStatusView, waiting?: WaitingFact): RunSummary {
  const shown = status ?? waitingView(runStatusView(record.status, record.status === 'running' && store.isDriven(record.runId)), waiting);
  return {
    runId: record.runId,
    sequence: record.sequence,
    version: record.version,
    status: shown,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    durationMs: record.updatedAt - record.createdAt,
    ...(record.currentTask ? { task: record.currentTask } : {}),
    ...(record.reason ? { reason: record.reason } : {}),
    ...(record.rerunOf ? { rerunOf: record.rerunOf } : {}),
    ...(record.source ? { source: record.source } : {}),
    definitionHash: record.definitionHash,
    ...(waiting && record.status === 'running' ? { waiting: waitingJson(waiting) } : {}),
  };
}

/** The wait a stored run has in progress, from its history. */
export async function storedWaiting(store: RunStore, runId: string): Promise<WaitingFact | undefined> {
  const stored = await store.get(runId);
  return stored ? waitingIn(stored.history) : undefined;
}

/** `2024-05-01 14:03:07`, local time. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function detail(s: RunSummary, waiting: WaitingFact | undefined): string {
  const parts: string[] = [];
  if (s.status === 'running') parts.push(`at ${s.task ?? '(starting)'}`);
  else if (s.status === 'waiting' && waiting) parts.push(waitingWords(waiting, formatTime));
  else if (s.status === 'interrupted') parts.push(`stopped at ${s.task ?? '(start)'}: lockstep resume ${s.runId}`);
  else if (s.status !== 'succeeded' && s.task) parts.push(`failed at ${s.task}`);
  if (s.status !== 'succeeded' && s.status !== 'running' && s.status !== 'interrupted' && s.reason) parts.push(s.reason);
  if (s.rerunOf) parts.push(`rerun of ${s.rerunOf}`);
  return parts.join('; ');
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIMIT;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new LockstepError(ErrorCode.invalidUsage, `--limit: expected an integer from 1 and up, got "${value}"`);
  return n;
}

/** `lockstep runs`: the recorded runs, newest first, with outcome, duration and the current or failed task. */
export function registerRuns(program: Command, cli: CliContext): void {
  program
    .command('runs')
    .description('list recorded runs, newest first')
    .option(
      '--status <status>',
      `only runs with this status (${RUN_STATUS_VIEWS.join(', ')}; waiting: at a wait task; interrupted: no live process drives it)`,
    )
    .option('--limit <n>', `at most this many runs (default ${DEFAULT_LIMIT})`)
    .option('--json', 'print one JSON object per run')
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .action(async (opts: RunsOptions) => {
      if (opts.status !== undefined && !(RUN_STATUS_VIEWS as readonly string[]).includes(opts.status)) {
        throw new LockstepError(ErrorCode.invalidUsage, `--status: expected one of ${RUN_STATUS_VIEWS.join(', ')}, got "${opts.status}"`);
      }
      const limit = parseLimit(opts.limit);
      const store = await openStore(cli, opts.store, { mustExist: true, readOnly: true });
      try {
        const listed = await listShownRuns(
          (q) => listRuns(store, q),
          (record) => storedWaiting(store, record.runId),
          { ...(opts.status ? { status: opts.status as RunStatusView } : {}), limit },
        );
        const summaries = listed.map((r) => runSummary(r.record, store, r.status, r.waiting));
        if (opts.json) {
          for (const s of summaries) cli.out(JSON.stringify(s));
          return;
        }
        if (summaries.length === 0) {
          cli.out(opts.status ? `no ${opts.status} runs in ${store.path}` : `no runs in ${store.path}`);
          return;
        }
        const rows = summaries.map((s, i) => [
          s.runId,
          `${s.sequence} v${s.version}`,
          s.status,
          formatTime(s.createdAt),
          formatDuration(s.durationMs),
          detail(s, listed[i]!.waiting),
        ]);
        const header = ['RUN', 'SEQUENCE', 'STATUS', 'STARTED', 'DURATION', 'TASK'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [header, ...rows])
          cli.out(
            row
              .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
              .join('  ')
              .trimEnd(),
          );
      } finally {
        await store.close();
      }
    });
}
