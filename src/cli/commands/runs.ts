import type { Command } from 'commander';
import type { SqliteRunStore } from '../../adapters/sqlite/sqlite-run-store.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { formatDuration } from '../../core/sequence/duration.js';
import type { RunRecord, RunStatus } from '../../ports/run-store.js';
import type { CliContext } from '../context.js';
import { openStore } from '../store.js';

interface RunsOptions {
  status?: string;
  limit?: string;
  json?: boolean;
  store?: string;
}

const STATUSES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'cancelled'];
const DEFAULT_LIMIT = 20;

/** A run as `lockstep runs --json` prints it: the record without its definition text, with derived fields. */
export interface RunSummary {
  readonly runId: string;
  readonly sequence: string;
  readonly version: string;
  readonly status: RunStatus;
  /** For a running run: whether a live process drives it. `false` means it can be resumed. */
  readonly driven?: boolean;
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
}

/** Summarises a run for listings. */
export function runSummary(record: RunRecord, store: SqliteRunStore): RunSummary {
  const driven = record.status === 'running' ? store.holder(record.runId)?.alive ?? false : undefined;
  return {
    runId: record.runId, sequence: record.sequence, version: record.version, status: record.status,
    ...(driven === undefined ? {} : { driven }),
    createdAt: record.createdAt, updatedAt: record.updatedAt, durationMs: record.updatedAt - record.createdAt,
    ...(record.currentTask ? { task: record.currentTask } : {}),
    ...(record.reason ? { reason: record.reason } : {}),
    ...(record.rerunOf ? { rerunOf: record.rerunOf } : {}),
    ...(record.source ? { source: record.source } : {}),
    definitionHash: record.definitionHash,
  };
}

/** `2024-05-01 14:03:07`, local time. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function statusLabel(s: RunSummary): string {
  if (s.status !== 'running') return s.status;
  return s.driven ? 'running' : 'interrupted';
}

function detail(s: RunSummary): string {
  const parts: string[] = [];
  if (s.status === 'running') parts.push(s.driven ? `at ${s.task ?? '(starting)'}` : `stopped at ${s.task ?? '(start)'}: resume it`);
  else if (s.status !== 'succeeded' && s.task) parts.push(`failed at ${s.task}`);
  if (s.status !== 'succeeded' && s.status !== 'running' && s.reason) parts.push(s.reason);
  if (s.rerunOf) parts.push(`rerun of ${s.rerunOf}`);
  return parts.join('; ');
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIMIT;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new LockstepError(ErrorCode.invalidUsage, `--limit: expected an integer from 1 and up, got "${value}"`);
  return n;
}

/** `lockstep runs`: the recorded runs, newest first, with outcome, duration and the current or failed task. */
export function registerRuns(program: Command, cli: CliContext): void {
  program
    .command('runs')
    .description('list recorded runs, newest first')
    .option('--status <status>', `only runs with this status (${STATUSES.join(', ')})`)
    .option('--limit <n>', `at most this many runs (default ${DEFAULT_LIMIT})`)
    .option('--json', 'print one JSON object per run')
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .action(async (opts: RunsOptions) => {
      if (opts.status !== undefined && !(STATUSES as readonly string[]).includes(opts.status)) {
        throw new LockstepError(ErrorCode.invalidUsage, `--status: expected one of ${STATUSES.join(', ')}, got "${opts.status}"`);
      }
      const limit = parseLimit(opts.limit);
      const store = await openStore(cli, opts.store, { mustExist: true, readOnly: true });
      try {
        const records = await store.list({ ...(opts.status ? { status: opts.status as RunStatus } : {}), limit });
        const summaries = records.map((r) => runSummary(r, store));
        if (opts.json) {
          for (const s of summaries) cli.out(JSON.stringify(s));
          return;
        }
        if (summaries.length === 0) {
          cli.out(opts.status ? `no ${opts.status} runs in ${store.path}` : `no runs in ${store.path}`);
          return;
        }
        const rows = summaries.map((s) => [s.runId, `${s.sequence} v${s.version}`, statusLabel(s), formatTime(s.createdAt), formatDuration(s.durationMs), detail(s)]);
        const header = ['RUN', 'SEQUENCE', 'STATUS', 'STARTED', 'DURATION', 'TASK'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [header, ...rows]) cli.out(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
      } finally {
        await store.close();
      }
    });
}
