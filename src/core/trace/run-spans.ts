import type { RunEntry } from '../protocol/run-entry.js';
import { isFinalEntry } from '../protocol/run-entry.js';
import { attemptSpanId, runTrace } from './traceparent.js';

/** An attribute value of a span or an event. */
export type SpanValue = string | number | boolean | readonly string[];

/** Something that happened within a span, at a time (ms since the epoch). */
export interface SpanEvent {
  readonly name: string;
  readonly atMs: number;
  readonly attributes: Readonly<Record<string, SpanValue>>;
}

/** One ended span, in lockstep's terms: what a tracing adapter exports. */
export interface SpanDescription {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  /** Trace flags of the run's trace (`01`: sampled). */
  readonly flags: string;
  readonly name: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Readonly<Record<string, SpanValue>>;
  /** `error` for a failed attempt or run, with the reason; unset otherwise. */
  readonly status: { readonly code: 'unset' } | { readonly code: 'error'; readonly message: string };
  readonly events: readonly SpanEvent[];
}

/** What the spans of a run need besides its entries: the run's sequence and the `traceparent` it started with. */
export interface TracedRun {
  readonly sequence: string;
  readonly version: string;
  readonly traceparent?: string;
}

/** Attribute names, in the `lockstep.` namespace. */
export const SpanAttribute = {
  runId: 'lockstep.run.id',
  sequence: 'lockstep.sequence',
  version: 'lockstep.version',
  task: 'lockstep.task',
  attempt: 'lockstep.attempt',
  phase: 'lockstep.phase',
  outcome: 'lockstep.outcome',
  errorCode: 'lockstep.error.code',
  failedTasks: 'lockstep.failed_tasks',
  reason: 'lockstep.reason',
  retryDelayMs: 'lockstep.retry.delay_ms',
  stopHow: 'lockstep.stop.how',
} as const;

/** Runs whose end this process may never see (moved to another orchestrator) are forgotten past this many. */
const MAX_OPEN_RUNS = 10_000;

interface OpenRun {
  /** Events of the root span, until the run ends. */
  readonly events: SpanEvent[];
  /** Attempts (`phase:task:attempt`) started here, with their start time. */
  readonly started: Map<string, number>;
  /** Attempts whose span has ended: a later `task.stopped` of theirs adds none. */
  readonly ended: Set<string>;
}

/**
 * Turns a run's history entries, as they become durable, into spans: the run is the root span, ended by its final
 * entry (started at the run's start, from the entry's duration); each attempt (compensations and finally tasks
 * included) is a child span ended by the attempt's first ending entry. Retries and timeouts are events. Ids come
 * from {@link runTrace} and {@link attemptSpanId}, so an orchestrator that took a run over after a restart emits
 * spans of the same trace, under the same root; what it cannot know of the entries recorded before (the start of
 * an interrupted attempt, the root's earlier events) is left out.
 */
export class RunSpans {
  readonly #open = new Map<string, OpenRun>();

  /** The spans `entry` ends, if any. */
  take(entry: RunEntry, run: TracedRun): SpanDescription[] {
    const open = this.#openRun(entry.runId, entry.type === 'run.started');
    switch (entry.type) {
      case 'run.started':
      case 'event.ignored':
        return [];
      case 'task.started':
        open.started.set(`${entry.phase}:${entry.task}:${entry.attempt}`, entry.at);
        return [];
      case 'timer.fired':
        return [];
      case 'run.timed-out':
        open.events.push({ name: 'timeout', atMs: entry.at, attributes: { [SpanAttribute.reason]: 'run timed out' } });
        return [];
      case 'run.cancelling':
        open.events.push({ name: 'cancel requested', atMs: entry.at, attributes: { [SpanAttribute.reason]: entry.reason } });
        return [];
      case 'task.succeeded':
      case 'task.failed':
      case 'task.interrupted':
      case 'task.stopped':
        return this.#attempt(entry, run, open);
      default:
        return isFinalEntry(entry) ? [this.#root(entry, run, open)] : [];
    }
  }

  #openRun(runId: string, fresh: boolean): OpenRun {
    let open = this.#open.get(runId);
    if (!open || fresh) {
      if (this.#open.size >= MAX_OPEN_RUNS) this.#open.delete(this.#open.keys().next().value!);
      open = { events: [], started: new Map(), ended: new Set() };
      this.#open.set(runId, open);
    }
    return open;
  }

  #attempt(
    entry: Extract<RunEntry, { type: 'task.succeeded' | 'task.failed' | 'task.interrupted' | 'task.stopped' }>,
    run: TracedRun,
    open: OpenRun,
  ): SpanDescription[] {
    const key = `${entry.phase}:${entry.task}:${entry.attempt}`;
    if (open.ended.has(key)) return [];
    open.ended.add(key);
    const startMs = 'durationMs' in entry ? entry.at - entry.durationMs : (open.started.get(key) ?? entry.at);
    open.started.delete(key);
    const trace = runTrace(entry.runId, run.traceparent);
    const events: SpanEvent[] = [];
    const attributes: Record<string, SpanValue> = {
      [SpanAttribute.runId]: entry.runId,
      [SpanAttribute.sequence]: run.sequence,
      [SpanAttribute.version]: run.version,
      [SpanAttribute.task]: entry.task,
      [SpanAttribute.attempt]: entry.attempt,
      [SpanAttribute.phase]: entry.phase,
    };
    let status: SpanDescription['status'] = { code: 'unset' };
    if (entry.type === 'task.succeeded') attributes[SpanAttribute.outcome] = 'succeeded';
    else if (entry.type === 'task.failed') {
      attributes[SpanAttribute.outcome] = 'failed';
      if (entry.error.code) attributes[SpanAttribute.errorCode] = entry.error.code;
      status = { code: 'error', message: entry.error.message };
      if (entry.error.code === 'TASK_TIMEOUT') events.push({ name: 'timeout', atMs: entry.at, attributes: {} });
      if (entry.willRetry) {
        const delay: Record<string, SpanValue> = {};
        if (entry.retryInMs !== undefined) delay[SpanAttribute.retryDelayMs] = entry.retryInMs;
        events.push({ name: 'retry scheduled', atMs: entry.at, attributes: delay });
      }
    } else if (entry.type === 'task.interrupted') {
      attributes[SpanAttribute.outcome] = 'interrupted';
      status = { code: 'error', message: 'interrupted: the process that ran the attempt was lost' };
    } else {
      attributes[SpanAttribute.outcome] = 'stopped';
      attributes[SpanAttribute.stopHow] = entry.how;
      status = { code: 'error', message: entry.error?.message ?? `stopped (${entry.how})` };
    }
    // `compensate reserve-stock`, not `compensate reserve-stock.compensate`: the attribute keeps the task's id.
    const name = entry.phase === 'main' ? `task ${entry.task}` : `${entry.phase} ${entry.task.replace(/\.compensate$/, '')}`;
    return [
      {
        traceId: trace.traceId,
        spanId: attemptSpanId(entry.runId, entry.phase, entry.task, entry.attempt),
        parentSpanId: trace.rootSpanId,
        flags: trace.flags,
        name,
        startMs,
        endMs: entry.at,
        attributes,
        status,
        events,
      },
    ];
  }

  #root(
    entry: Extract<RunEntry, { type: 'run.succeeded' | 'run.failed' | 'run.cancelled' }>,
    run: TracedRun,
    open: OpenRun,
  ): SpanDescription {
    this.#open.delete(entry.runId);
    const trace = runTrace(entry.runId, run.traceparent);
    const attributes: Record<string, SpanValue> = {
      [SpanAttribute.runId]: entry.runId,
      [SpanAttribute.sequence]: run.sequence,
      [SpanAttribute.version]: run.version,
      [SpanAttribute.outcome]: entry.outcome,
      ...(entry.failedTasks.length > 0 ? { [SpanAttribute.failedTasks]: entry.failedTasks } : {}),
      ...(entry.reason ? { [SpanAttribute.reason]: entry.reason } : {}),
    };
    return {
      traceId: trace.traceId,
      spanId: trace.rootSpanId,
      ...(trace.parentSpanId ? { parentSpanId: trace.parentSpanId } : {}),
      flags: trace.flags,
      name: `run ${run.sequence}`,
      startMs: entry.at - entry.durationMs,
      endMs: entry.at,
      attributes,
      status: entry.outcome === 'failed' ? { code: 'error', message: entry.reason ?? 'run failed' } : { code: 'unset' },
      events: open.events,
    };
  }
}
