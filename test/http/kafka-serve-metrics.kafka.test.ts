// `lockstep serve --brokers` exposes GET /metrics for runs separate orchestrators drive: what they record from
// the moment serve follows the history topic, the runs in flight on the run-state topic, and the orchestrators'
// lag per partition of the events topic (which starts runs nobody consumed yet make visible).
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
import type { ServeProcess } from './serve-process.js';
import { spawnServe } from './serve-process.js';

const scratch = mkdtempSync(join(tmpdir(), 'lockstep-kafka-serve-metrics-'));
const brokers = inject('kafkaBrokers');
const prefix = `serve-metrics-${randomUUID().slice(0, 8)}`;
const env = { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix };
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

let serve: ServeProcess;
const services: Service[] = [];
beforeAll(async () => {
  const created = await lockstep(['topics', 'create', '--partitions', '2', '--sequences', scratch], { env, timeoutMs: 60_000 });
  expect(created.code, created.stderr).toBe(0);
  serve = await spawnServe(['--sequences', scratch, '--brokers', brokers, '--prefix', prefix], {
    cwd: scratch,
    env: { LOCKSTEP_TOKEN: 'secret' },
    timeoutMs: 60_000,
  });
}, 90_000);
afterAll(async () => {
  await Promise.all(services.map((s) => s.stop('SIGKILL')));
  await serve?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const scrape = async (): Promise<{ text: string; samples: Sample[] }> => {
  const text = await (await fetch(`${serve.base}/metrics`)).text();
  return { text, samples: parseSamples(text) };
};
const lagOf = (samples: readonly Sample[]) => samples.filter((s) => s.name === 'lockstep_consumer_lag').reduce((n, s) => n + s.value, 0);
const start = async (): Promise<string> => {
  const res = await fetch(`${serve.base}/api/runs`, {
    method: 'POST',
    headers: { authorization: 'Bearer secret', 'content-type': 'application/json' },
    body: JSON.stringify({ sequence: 'flaky' }),
  });
  expect(res.status).toBeLessThan(300);
  return ((await res.json()) as { runId: string }).runId;
};

describe('lockstep serve --brokers: GET /metrics', () => {
  it('shows the lag of starts no orchestrator took yet, then counts what the orchestrators record', async () => {
    const runIds = [await start(), await start(), await start()];
    // No orchestrator yet: the three starts wait on the events topic.
    await expect.poll(async () => lagOf((await scrape()).samples), { timeout: 30_000, interval: 1000 }).toBe(3);

    services.push(
      startService('orchestrator', ['orchestrator', '--sequences', scratch], env),
      startService('worker', ['worker', '--sequences', scratch, '--grace', '200'], env),
    );
    await Promise.all(services.map((s) => s.ready));
    await expect
      .poll(
        async () => sampleValue((await scrape()).samples, 'lockstep_runs_finished_total', { sequence: 'flaky', outcome: 'succeeded' }),
        {
          timeout: 60_000,
          interval: 500,
        },
      )
      .toBe(3);
    await expect.poll(async () => lagOf((await scrape()).samples), { timeout: 30_000, interval: 1000 }).toBe(0);

    const { text, samples } = await scrape();
    const check = promtoolCheck(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);
    expect(value('lockstep_runs_started_total', { sequence: 'flaky' })).toBe(3);
    const fetchTask = { sequence: 'flaky', task: 'fetch', phase: 'main' };
    expect(value('lockstep_task_attempts_total', { ...fetchTask, result: 'failed' })).toBe(3);
    expect(value('lockstep_task_attempts_total', { ...fetchTask, result: 'succeeded' })).toBe(3);
    expect(value('lockstep_runs_in_flight')).toBe(0);
    expect(samples.filter((s) => s.name === 'lockstep_consumer_lag').map((s) => s.labels)).toEqual(
      [0, 1].map((p) => ({ topic: `${prefix}.events`, partition: String(p), group: `${prefix}-orchestrators` })),
    );
    for (const runId of runIds) expect(text).not.toContain(runId);
  }, 180_000);
});
