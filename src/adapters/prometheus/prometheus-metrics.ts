import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import { isFinalEntry } from '../../core/protocol/run-entry.js';
import type { IgnoredReason } from '../../core/step.js';
import type { MetricsExposition, PartitionLag, RunMetrics, WatchedOrchestrator } from '../../ports/metrics.js';
import type { CachedReadOptions } from './cached-read.js';
import { cachedRead } from './cached-read.js';

/** Options of {@link createPrometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** How the consumer lag is cached and how long a scrape waits for it. */
  readonly lag?: CachedReadOptions;
}

/** lockstep's metrics in the Prometheus text format: fed as {@link RunMetrics}, read as {@link MetricsExposition}. */
export type PrometheusMetrics = RunMetrics & MetricsExposition;

const IGNORED_REASONS: readonly IgnoredReason[] = ['duplicate', 'stale', 'late', 'unexpected'];
/** From a fast handler to a long shell task. */
const TASK_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** From a run of a few quick tasks to one that waits on retries and timers for hours. */
const RUN_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 10_800, 43_200, 86_400];
/** Runs whose start this process saw and whose end it did not yet: enough to name their sequence, never unbounded. */
const MAX_REMEMBERED_RUNS = 100_000;

/** How an attempt's entry ended it, as the `result` label says; undefined for entries that end no attempt. */
function attemptResult(entry: RunEntry): string | undefined {
  switch (entry.type) {
    case 'task.succeeded':
      return 'succeeded';
    case 'task.failed':
      return entry.error.code === 'TASK_TIMEOUT' ? 'timed_out' : 'failed';
    case 'task.stopped':
      return 'stopped';
    case 'task.interrupted':
      return 'interrupted';
    default:
      return undefined;
  }
}

/**
 * The metric set of one process, in a registry of its own (never prom-client's global one, so several servers in
 * one process do not clash). Run and attempt counters and the durations count the entries handed to `observe`;
 * ignored events, dead letters and runs in flight are read from the watched orchestrators at each scrape; the
 * consumer lag is read at scrape time through a short cache.
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = new Registry();
  // No process metrics: prom-client's `nodejs_*` gauges end in `_total`, which Prometheus's conventions (and
  // `promtool check metrics`) reserve for counters.
  const registers = [registry];
  const watched: WatchedOrchestrator[] = [];
  const inFlightCounts: Array<() => number> = [];
  const lagReads: Array<() => Promise<readonly PartitionLag[] | undefined>> = [];
  const sequences = new Map<string, string>();

  const runsStarted = new Counter({
    name: 'lockstep_runs_started_total',
    help: 'Runs started, by sequence.',
    labelNames: ['sequence'],
    registers,
  });
  const runsFinished = new Counter({
    name: 'lockstep_runs_finished_total',
    help: 'Runs finished, by sequence and outcome (succeeded, failed, cancelled).',
    labelNames: ['sequence', 'outcome'],
    registers,
  });
  const attempts = new Counter({
    name: 'lockstep_task_attempts_total',
    help: 'Task attempts ended, by result (succeeded, failed, timed_out, stopped, interrupted); a failed attempt counts even when a retry succeeds.',
    labelNames: ['sequence', 'task', 'phase', 'result'],
    registers,
  });
  const taskDuration = new Histogram({
    name: 'lockstep_task_duration_seconds',
    help: 'Duration of task attempts, from dispatch to their end, by result.',
    labelNames: ['sequence', 'task', 'result'],
    buckets: TASK_BUCKETS,
    registers,
  });
  const runDuration = new Histogram({
    name: 'lockstep_run_duration_seconds',
    help: 'Duration of finished runs, from their start to their end, by outcome.',
    labelNames: ['sequence', 'outcome'],
    buckets: RUN_BUCKETS,
    registers,
  });
  new Gauge({
    name: 'lockstep_runs_in_flight',
    help: 'Runs this process drives right now (started, resumed, or restored with their partition).',
    registers,
    collect() {
      this.set(watched.reduce((n, o) => n + o.activeRuns, 0) + inFlightCounts.reduce((n, count) => n + count(), 0));
    },
  });
  // The orchestrators' counters only grow: each scrape adds what they counted since the last one.
  const reportedIgnored = new Map<IgnoredReason, number>(IGNORED_REASONS.map((r) => [r, 0]));
  new Counter({
    name: 'lockstep_events_ignored_total',
    help: 'Events the orchestrator did not apply, by reason (duplicate, stale, late, unexpected).',
    labelNames: ['reason'],
    registers,
    collect() {
      for (const reason of IGNORED_REASONS) {
        const total = watched.reduce((n, o) => n + o.stats.ignored[reason], 0);
        this.inc({ reason }, Math.max(0, total - reportedIgnored.get(reason)!));
        reportedIgnored.set(reason, Math.max(total, reportedIgnored.get(reason)!));
      }
    },
  });
  let reportedDead = 0;
  new Counter({
    name: 'lockstep_dead_letters_total',
    help: 'Messages the orchestrator could not process and sent to the dead-letter topic.',
    registers,
    collect() {
      const total = watched.reduce((n, o) => n + o.stats.deadLettered, 0);
      this.inc(Math.max(0, total - reportedDead));
      reportedDead = Math.max(total, reportedDead);
    },
  });
  new Gauge({
    name: 'lockstep_consumer_lag',
    help: "Messages of the events topic not yet processed by the orchestrators' group: log end offset minus committed offset, per partition.",
    labelNames: ['topic', 'partition', 'group'],
    registers,
    async collect() {
      this.reset();
      for (const rows of await Promise.all(lagReads.map((read) => read()))) {
        for (const r of rows ?? []) this.set({ topic: r.topic, partition: String(r.partition), group: r.group }, r.lag);
      }
    },
  });

  // Runs whose start was seen here, for callers that cannot name a run's sequence (serve following the history).
  const sequenceOf = (runId: string): string => sequences.get(runId) ?? 'unknown';
  const remember = (runId: string, sequence: string) => {
    sequences.set(runId, sequence);
    if (sequences.size > MAX_REMEMBERED_RUNS) sequences.delete(sequences.keys().next().value!);
    return sequence;
  };

  return {
    contentType: registry.contentType,
    text: () => registry.metrics(),
    observe(entry, sequence) {
      if (entry.type === 'run.started') {
        runsStarted.inc({ sequence: remember(entry.runId, sequence ?? entry.sequence) });
        return;
      }
      const result = attemptResult(entry);
      if (result && 'task' in entry) {
        const name = sequence ?? sequenceOf(entry.runId);
        attempts.inc({ sequence: name, task: entry.task, phase: entry.phase, result });
        if ('durationMs' in entry) taskDuration.observe({ sequence: name, task: entry.task, result }, entry.durationMs / 1000);
        return;
      }
      if (isFinalEntry(entry)) {
        const name = sequence ?? sequenceOf(entry.runId);
        runsFinished.inc({ sequence: name, outcome: entry.outcome });
        runDuration.observe({ sequence: name, outcome: entry.outcome }, entry.durationMs / 1000);
        sequences.delete(entry.runId);
      }
    },
    watch: (orchestrator) => void watched.push(orchestrator),
    watchRunsInFlight: (count) => void inFlightCounts.push(count),
    watchLag: (read) => void lagReads.push(cachedRead(read, options.lag)),
  };
}
