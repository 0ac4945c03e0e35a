import { describe, expect, it } from 'vitest';
import { createPrometheusMetrics } from '../../../src/adapters/prometheus/index.js';
import type { RunEntry } from '../../../src/core/protocol/run-entry.js';
import { parseSamples, sampleValue } from '../../support/prometheus.js';

const at = 1_700_000_000_000;
const event = { type: 'TASK_SUCCEEDED', taskId: 'fetch', attempt: 1 } as never;
const started = (runId: string): RunEntry => ({ type: 'run.started', runId, at, sequence: 'orders', version: '1', input: null });
const failed = (runId: string, code?: string): RunEntry => ({
  type: 'task.failed',
  runId,
  at,
  task: 'fetch',
  attempt: 1,
  phase: 'main',
  durationMs: 1500,
  error: { message: 'no', ...(code ? { code } : {}) },
  willRetry: true,
  event,
});

/** An orchestrator as the metrics read it: counters that only grow, and its runs in flight. */
const orchestrator = () => ({
  stats: { ignored: { duplicate: 0, stale: 0, late: 0, unexpected: 0 }, deadLettered: 0 },
  activeRuns: 0,
});

describe('createPrometheusMetrics', () => {
  it('keeps each instance in a registry of its own: two in one process neither clash nor share counts', async () => {
    const a = createPrometheusMetrics();
    const b = createPrometheusMetrics();
    a.observe(started('r1'));
    expect(sampleValue(parseSamples(await a.text()), 'lockstep_runs_started_total', { sequence: 'orders' })).toBe(1);
    expect(sampleValue(parseSamples(await b.text()), 'lockstep_runs_started_total', { sequence: 'orders' })).toBeUndefined();
  });

  it('labels an entry with the sequence its caller names, or the one its run started with here, and tells timeouts', async () => {
    const metrics = createPrometheusMetrics();
    metrics.observe(failed('restored', 'TASK_TIMEOUT'), 'billing');
    metrics.observe(started('seen'));
    metrics.observe(failed('seen'));
    metrics.observe(failed('nobody'));
    const samples = parseSamples(await metrics.text());
    expect(sampleValue(samples, 'lockstep_task_attempts_total', { sequence: 'billing', result: 'timed_out' })).toBe(1);
    expect(sampleValue(samples, 'lockstep_task_attempts_total', { sequence: 'orders', result: 'failed' })).toBe(1);
    expect(sampleValue(samples, 'lockstep_task_attempts_total', { sequence: 'unknown', result: 'failed' })).toBe(1);
    expect(sampleValue(samples, 'lockstep_task_duration_seconds_sum', { sequence: 'billing', result: 'timed_out' })).toBe(1.5);
  });

  it("adds what the orchestrators' counters grew by since the last scrape, and sums their runs in flight", async () => {
    const metrics = createPrometheusMetrics();
    const one = orchestrator();
    const two = orchestrator();
    metrics.watch(one);
    metrics.watch(two);
    one.stats.ignored.duplicate = 2;
    two.stats.ignored.late = 1;
    one.stats.deadLettered = 1;
    one.activeRuns = 3;
    two.activeRuns = 1;
    let samples = parseSamples(await metrics.text());
    expect(sampleValue(samples, 'lockstep_events_ignored_total', { reason: 'duplicate' })).toBe(2);
    expect(sampleValue(samples, 'lockstep_events_ignored_total', { reason: 'late' })).toBe(1);
    expect(sampleValue(samples, 'lockstep_dead_letters_total')).toBe(1);
    expect(sampleValue(samples, 'lockstep_runs_in_flight')).toBe(4);
    two.stats.ignored.duplicate = 1;
    samples = parseSamples(await metrics.text());
    expect(sampleValue(samples, 'lockstep_events_ignored_total', { reason: 'duplicate' })).toBe(3);
    expect(sampleValue(samples, 'lockstep_dead_letters_total')).toBe(1);
  });

  it('serves the consumer lag it read, and no series while the read has no answer', async () => {
    const metrics = createPrometheusMetrics({ lag: { timeoutMs: 50 } });
    metrics.watchLag(async () => [{ topic: 'p.events', partition: 1, group: 'p-orchestrators', lag: 7 }]);
    const samples = parseSamples(await metrics.text());
    expect(sampleValue(samples, 'lockstep_consumer_lag', { topic: 'p.events', partition: '1', group: 'p-orchestrators' })).toBe(7);

    const stuck = createPrometheusMetrics({ lag: { timeoutMs: 50 } });
    stuck.watchLag(() => new Promise(() => {}));
    const began = Date.now();
    expect(parseSamples(await stuck.text()).filter((s) => s.name === 'lockstep_consumer_lag')).toEqual([]);
    expect(Date.now() - began).toBeLessThan(1000);
  });
});
