// `lockstep serve --brokers` as its own process, against the real test broker, shows runs that separate
// processes drive: a `lockstep orchestrator` and a `lockstep worker` (shell tasks gated by files). The run is
// started through serve's API, its last task (on a queue no worker takes) is reported through serve's ingest
// endpoint, and serve follows every step from the history and run-state topics.

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN } from '../support/cli.js';
import { TOKEN, until } from './serve-harness.js';
import type { ServeProcess } from './serve-process.js';
import { spawnServe } from './serve-process.js';

const brokers = inject('kafkaBrokers');
const prefix = `serve-proc-${randomUUID().slice(0, 8)}`;

let dir: string;
let gates: string;
let serve: ServeProcess;
const helpers: ChildProcess[] = [];
const open = (gate: string) => writeFileSync(join(gates, gate), '');

/** Starts `lockstep <role>` over Kafka and resolves once it prints its ready line. */
function startRole(args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, ...args, '--brokers', brokers, '--prefix', prefix], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  helpers.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lockstep ${args[0]} did not get ready:\n${out}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"event":"ready"')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`lockstep ${args[0]} exited with ${code}:\n${out}`)));
  });
}

async function api(path: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(
    `${serve.base}${path}`,
    body === undefined
      ? {}
      : {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        },
  );
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const nodeOf = async (runId: string) => (await api(`/api/runs/${runId}`)).body.state?.node as string | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-serve-kafka-'));
  gates = join(dir, 'gates');
  const machines = join(dir, 'machines');
  mkdirSync(gates);
  mkdirSync(machines);
  const wait = (gate: string, out: string) => JSON.stringify(`while [ ! -f "${gates}/${gate}" ]; do sleep 0.02; done; echo '${out}'`);
  writeFileSync(
    join(machines, 'relay.yaml'),
    [
      'name: relay',
      'version: 1',
      'tasks:',
      '  - id: fetch',
      `    run: ${wait('fetch', '{"rows":3}')}`,
      '  - id: transform',
      `    run: ${wait('transform', '{"rows":6}')}`,
      '  - id: confirm',
      '    queue: partner',
      '',
    ].join('\n'),
  );
  await startRole(['orchestrator', '--sequences', machines, '--partitions', '2']);
  await startRole(['worker', '--sequences', machines]);
  serve = await spawnServe(['--machines', machines, '--brokers', brokers, '--prefix', prefix], {
    cwd: dir,
    env: { LOCKSTEP_TOKEN: TOKEN },
  });
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  for (const child of helpers.reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('lockstep serve over Kafka, with a separate orchestrator and worker', () => {
  it('starts a run, follows each step from the history and run-state topics, and takes a remote report through ingest', async () => {
    expect((await api('/api/health')).body).toMatchObject({ mode: 'kafka', sequences: 1 });
    const started = await api('/api/runs', { sequence: 'relay', input: { batch: 1 } });
    expect(started.status).toBe(201);
    const runId = started.body.runId as string;

    await until(async () => ((await nodeOf(runId)) === 'main.fetch.running' ? true : undefined), 'fetch to run', 30_000);
    open('fetch');
    await until(async () => ((await nodeOf(runId)) === 'main.transform.running' ? true : undefined), 'transform to run', 30_000);
    open('transform');
    await until(
      async () => ((await nodeOf(runId)) === 'main.confirm.running' ? true : undefined),
      'confirm to wait for the partner',
      30_000,
    );

    const report = {
      v: 1,
      id: randomUUID(),
      runId,
      taskId: 'confirm',
      attempt: 1,
      time: new Date().toISOString(),
      type: 'task.succeeded',
      payload: { result: 'ok' },
    };
    expect((await api('/api/ingest', report)).status).toBe(202);
    const done = await until(
      async () => {
        const v = (await api(`/api/runs/${runId}`)).body;
        return v.run.status === 'running' ? undefined : v;
      },
      'the run to end',
      30_000,
    );
    expect(done.run).toMatchObject({ runId, sequence: 'relay', status: 'succeeded', input: { batch: 1 } });
    expect(done.state).toMatchObject({ node: 'succeeded', kind: 'succeeded', completed: ['fetch', 'transform', 'confirm'] });
    expect(done.history.map((e: any) => `${e.type}${e.task ? ` ${e.task}` : ''}`)).toEqual([
      'run.started',
      'task.started fetch',
      'task.succeeded fetch',
      'task.started transform',
      'task.succeeded transform',
      'task.started confirm',
      'task.succeeded confirm',
      'run.succeeded',
    ]);
    expect(done.history.find((e: any) => e.task === 'transform' && e.type === 'task.succeeded')).toMatchObject({ result: { rows: 6 } });
    const listed = (await api('/api/runs?sequence=relay')).body.runs;
    expect(listed.map((r: any) => r.runId)).toEqual([runId]);
  }, 120_000);

  it('cancels a run through serve: the orchestrator stops it while its remote task waits', async () => {
    const runId = (await api('/api/runs', { sequence: 'relay' })).body.runId as string;
    await until(
      async () => ((await nodeOf(runId)) === 'main.confirm.running' ? true : undefined),
      'confirm to wait for the partner',
      30_000,
    );
    expect((await api(`/api/runs/${runId}/cancel`, { reason: 'operator' })).status).toBe(202);
    const done = await until(
      async () => {
        const v = (await api(`/api/runs/${runId}`)).body;
        return v.run.status === 'running' ? undefined : v;
      },
      'the cancel',
      30_000,
    );
    expect(done.run).toMatchObject({ status: 'cancelled', reason: 'operator' });
    expect(done.state.node).toBe('cancelled');
  }, 120_000);
});
