// `lockstep orchestrator --metrics-port`: Prometheus metrics of one orchestrator over Kafka, with its group's lag
// on each partition of the events topic, valid for promtool.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lockstep } from '../support/cli.js';
import type { Service } from '../support/kafka-log.js';
import { startService } from '../support/kafka-log.js';
import type { Sample } from '../support/prometheus.js';
import { parseSamples, promtoolCheck, sampleValue } from '../support/prometheus.js';

const scratch = mkdtempSync(join(tmpdir(), 'lockstep-orchestrator-metrics-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const brokers = inject('kafkaBrokers');
const prefix = `metrics-${randomUUID().slice(0, 8)}`;
const group = `${prefix}-orchestrators`;
writeFileSync(
  join(scratch, 'flaky.yaml'),
  [
    'name: flaky',
    'version: 1',
    'tasks:',
    '  - id: fetch',
    `    run: '[ "$LOCKSTEP_ATTEMPT" -ge 2 ] || exit 1'`,
    '    retry: { maxAttempts: 3, backoff: { initial: 50ms } }',
    '',
  ].join('\n'),
);
writeFileSync(join(scratch, 'fails.yaml'), 'name: fails\nversion: 1\ntasks:\n  - id: boom\n    run: exit 3\n');

const env = { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix };
const run = (args: string[]) => lockstep(args, { env, timeoutMs: 60_000 });

describe('lockstep orchestrator --metrics-port', () => {
  const services: Service[] = [];
  let url: string;
  beforeAll(async () => {
    const created = await run(['topics', 'create', '--partitions', '3', '--sequences', scratch]);
    expect(created.code, created.stderr).toBe(0);
    const orchestrator = startService('orchestrator', ['orchestrator', '--sequences', scratch, '--metrics-port', '0'], env);
    services.push(orchestrator, startService('worker', ['worker', '--sequences', scratch, '--grace', '200'], env));
    const [ready] = await Promise.all(services.map((s) => s.ready));
    url = String(ready!.metrics);
  }, 90_000);
  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
  });

  const scrape = async (): Promise<{ text: string; samples: Sample[] }> => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, samples: parseSamples(text) };
  };

  it('prints the address it bound in its ready line, and answers nothing but /metrics', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await fetch(url.replace(/\/metrics$/, '/other'))).status).toBe(404);
  });

  it('refuses a metrics port in use, or not a port, before it joins the group', async () => {
    const port = new URL(url).port;
    const taken = await run(['orchestrator', '--sequences', scratch, '--metrics-port', port]);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`lockstep: --metrics-port: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE`);
    const bad = await run(['orchestrator', '--sequences', scratch, '--metrics-port', '65536']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('lockstep: --metrics-port: expected an integer from 0 to 65535, got "65536" (INVALID_USAGE)');
  });

  it('counts runs, attempts (a failure before a successful retry too), duplicates and the lag per partition', async () => {
    const ok = await run(['start', 'flaky', '--run-id', `${prefix}-flaky`, '--wait']);
    expect(ok.code, ok.stderr).toBe(0);
    const failed = await run(['start', 'fails', '--wait']);
    expect(failed.code).toBe(1);
    // The same start again: the orchestrator ignores it as a duplicate.
    const again = await run(['start', 'flaky', '--run-id', `${prefix}-flaky`]);
    expect(again.code, again.stderr).toBe(0);
    await expect
      .poll(async () => sampleValue((await scrape()).samples, 'lockstep_events_ignored_total', { reason: 'duplicate' }), {
        timeout: 30_000,
        interval: 500,
      })
      .toBe(1);
    // Every event consumed and committed: the lag (read at scrape time, cached for seconds) falls to 0 everywhere.
    await expect
      .poll(
        async () =>
          (await scrape()).samples
            .filter((s) => s.name === 'lockstep_consumer_lag')
            .map((s) => `${s.labels.topic} ${s.labels.partition} ${s.labels.group} ${s.value}`),
        { timeout: 30_000, interval: 1000 },
      )
      .toEqual([0, 1, 2].map((p) => `${prefix}.events ${p} ${group} 0`));

    const { text, samples } = await scrape();
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);
    expect(value('lockstep_runs_started_total', { sequence: 'flaky' })).toBe(1);
    expect(value('lockstep_runs_started_total', { sequence: 'fails' })).toBe(1);
    expect(value('lockstep_runs_finished_total', { sequence: 'flaky', outcome: 'succeeded' })).toBe(1);
    expect(value('lockstep_runs_finished_total', { sequence: 'fails', outcome: 'failed' })).toBe(1);
    const fetchTask = { sequence: 'flaky', task: 'fetch', phase: 'main' };
    expect(value('lockstep_task_attempts_total', { ...fetchTask, result: 'failed' })).toBe(1);
    expect(value('lockstep_task_attempts_total', { ...fetchTask, result: 'succeeded' })).toBe(1);
    expect(value('lockstep_task_attempts_total', { sequence: 'fails', task: 'boom', result: 'failed' })).toBe(1);
    expect(value('lockstep_run_duration_seconds_count', { sequence: 'flaky', outcome: 'succeeded' })).toBe(1);
    expect(value('lockstep_runs_in_flight')).toBe(0);
    expect(value('lockstep_dead_letters_total')).toBe(0);
  }, 120_000);
});
