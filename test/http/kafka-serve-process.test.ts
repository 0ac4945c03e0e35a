// `lockstep serve --brokers` as its own process, against the real test broker, shows runs that a separate
// orchestrator drives (here: Kafka mode's orchestrator and a worker in the test process). The run is started
// through serve's API, its last task is reported through serve's ingest endpoint, and serve follows every step
// from the run-state topic.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWorker, loadMachines, startKafkaOrchestrator } from '../../src/kafka/index.js';
import type { KafkaOrchestrator, KafkaWorker } from '../../src/kafka/index.js';
import { TOKEN, until } from './serve-harness.js';
import { spawnServe } from './serve-process.js';
import type { ServeProcess } from './serve-process.js';

const brokers = inject('kafkaBrokers');
const prefix = `serve-proc-${randomUUID().slice(0, 8)}`;
const kafka = { brokers, prefix, logLevel: 'nothing' as const };

let dir: string;
let orchestrator: KafkaOrchestrator;
let worker: KafkaWorker;
let serve: ServeProcess;
const release = new Map<string, () => void>();
const gate = (task: string) => new Promise<void>((resolve) => release.set(task, resolve));

async function api(path: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${serve.base}${path}`, body === undefined ? {} : {
    method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const nodeOf = async (runId: string) => (await api(`/api/runs/${runId}`)).body.state?.node as string | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-serve-kafka-'));
  const machines = join(dir, 'machines');
  mkdirSync(machines);
  writeFileSync(join(machines, 'relay.yaml'), [
    'name: relay', 'version: 1', 'tasks:',
    '  - id: fetch', '    queue: relay',
    '  - id: transform', '    queue: relay',
    '  - id: confirm', '    queue: partner', '',
  ].join('\n'));
  orchestrator = await startKafkaOrchestrator({ ...kafka, registry: loadMachines(machines), partitions: 2 });
  worker = await createWorker({
    ...kafka, queue: 'relay',
    handlers: {
      fetch: async () => (await gate('fetch'), { rows: 3 }),
      transform: async (ctx) => (await gate('transform'), { rows: (ctx.results.fetch as { rows: number }).rows * 2 }),
    },
  });
  serve = await spawnServe(['--machines', machines, '--brokers', brokers, '--prefix', prefix], { cwd: dir, env: { LOCKSTEP_TOKEN: TOKEN } });
}, 90_000);

afterAll(async () => {
  await serve?.stop();
  await worker?.close();
  await orchestrator?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('lockstep serve over Kafka, with a separate orchestrator', () => {
  it('starts a run, follows each step from the run-state topic, and takes a remote report through ingest', async () => {
    expect((await api('/api/health')).body).toMatchObject({ mode: 'kafka', sequences: 1 });
    const started = await api('/api/runs', { sequence: 'relay', input: { batch: 1 } });
    expect(started.status).toBe(201);
    const runId = started.body.runId as string;

    await until(async () => ((await nodeOf(runId)) === 'main.fetch.running' ? true : undefined), 'fetch to run', 30_000);
    release.get('fetch')!();
    await until(async () => ((await nodeOf(runId)) === 'main.transform.running' ? true : undefined), 'transform to run', 30_000);
    release.get('transform')!();
    await until(async () => ((await nodeOf(runId)) === 'main.confirm.running' ? true : undefined), 'confirm to wait for the partner', 30_000);

    const report = { v: 1, id: randomUUID(), runId, taskId: 'confirm', attempt: 1, time: new Date().toISOString(), type: 'task.succeeded', payload: { result: 'ok' } };
    expect((await api('/api/ingest', report)).status).toBe(202);
    const done = await until(async () => {
      const v = (await api(`/api/runs/${runId}`)).body;
      return v.run.status === 'running' ? undefined : v;
    }, 'the run to end', 30_000);
    expect(done.run).toMatchObject({ runId, sequence: 'relay', status: 'succeeded', input: { batch: 1 } });
    expect(done.state).toMatchObject({ node: 'succeeded', kind: 'succeeded', completed: ['fetch', 'transform', 'confirm'] });
    expect(done.history.map((e: any) => `${e.type}${e.task ? ` ${e.task}` : ''}`)).toEqual([
      'run.started', 'task.started fetch', 'task.succeeded fetch', 'task.started transform', 'task.succeeded transform',
      'task.started confirm', 'task.succeeded confirm', 'run.succeeded',
    ]);
    expect(done.history.find((e: any) => e.task === 'transform' && e.type === 'task.succeeded')).toMatchObject({ result: { rows: 6 } });
    const listed = (await api('/api/runs?sequence=relay')).body.runs;
    expect(listed.map((r: any) => r.runId)).toEqual([runId]);
  }, 120_000);

  it('cancels a run through serve: the orchestrator stops it', async () => {
    const runId = (await api('/api/runs', { sequence: 'relay' })).body.runId as string;
    await until(async () => ((await nodeOf(runId)) === 'main.fetch.running' ? true : undefined), 'fetch to run', 30_000);
    expect((await api(`/api/runs/${runId}/cancel`, { reason: 'operator' })).status).toBe(202);
    const done = await until(async () => {
      const v = (await api(`/api/runs/${runId}`)).body;
      return v.run.status === 'running' ? undefined : v;
    }, 'the cancel', 30_000);
    expect(done.run).toMatchObject({ status: 'cancelled', reason: 'operator' });
    expect(done.state.node).toBe('cancelled');
    release.get('fetch')?.();
  }, 120_000);
});
