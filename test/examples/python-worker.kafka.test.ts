// examples/python-worker runs against the real broker, with confluent-kafka from PyPI, beside a real orchestrator
// (the built CLI): success, a retriable failure retried, a business failure failing the run, a compensation that
// runs the compensation handler and not `charge`, a cancel that stops a long task, and a restart that does not
// stall the next task for the consumer session timeout.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLockstepClient, type LockstepClient } from '../../src/modes/kafka/lockstep-client.js';
import { BIN, lockstep, ROOT } from '../support/cli.js';
import { rawKafka } from '../support/raw-kafka.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-python-worker-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const brokers = inject('kafkaBrokers');
const EXAMPLE = join(ROOT, 'examples', 'python-worker');
const SEQUENCE = `name: checkout
version: 1
tasks:
  - id: charge
    queue: payments
    compensate: { queue: payments }
  - id: ship
    queue: payments
    retry: { maxAttempts: 2, backoff: { initial: 100ms } }
`;
/** For the README's loop, which has handlers for charge and its compensation only. */
const PAY = `name: pay
version: 1
tasks:
  - id: charge
    queue: payments
    compensate: { queue: payments }
  - id: confirm
    queue: payments
`;

/** The Python block of the README's "From any language", as a user pastes it. */
function readmeLoop(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const from = readme.indexOf('**From any language');
  const block = /```python\n([\s\S]*?)```/.exec(readme.slice(from));
  if (from < 0 || !block?.[1]) throw new Error('README.md: no Python block under "From any language"');
  return block[1];
}

/** A virtualenv with the example's requirements, made once per requirements file and kept in ~/.cache/lockstep. */
function pythonWithRequirements(): string {
  const requirements = readFileSync(join(EXAMPLE, 'requirements.txt'));
  const hash = createHash('sha256').update(requirements).digest('hex').slice(0, 16);
  const venv = join(homedir(), '.cache', 'lockstep', 'python-worker-venv', hash);
  const python = join(venv, 'bin', 'python');
  const ready = join(venv, '.installed');
  if (!existsSync(ready)) {
    mkdirSync(venv, { recursive: true });
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(python, ['-m', 'pip', 'install', '--quiet', '-r', join(EXAMPLE, 'requirements.txt')], { stdio: 'inherit' });
    writeFileSync(ready, requirements);
  }
  return python;
}

interface Effect {
  effect: string;
  runId: string;
  taskId: string;
  phase: string;
  attempt: number;
}

describe('examples/python-worker', () => {
  const prefix = `pyworker-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(scratch, 'python-worker-'));
  const ledger = join(dir, 'ledger.jsonl');
  const env = { ...process.env, KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix, PAYMENTS_LEDGER: ledger };
  const children: ChildProcess[] = [];
  let python: string;
  let client: LockstepClient;
  let worker: { child: ChildProcess; stderr: () => string; exited: Promise<number | null> };

  const spawnWorker = (args = [join(EXAMPLE, 'worker.py'), '--queue', 'payments']) => {
    const child = spawn(python, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, stderr: () => stderr, exited };
  };
  const effects = (runId: string): Effect[] =>
    existsSync(ledger)
      ? readFileSync(ledger, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Effect)
          .filter((e) => e.runId === runId)
      : [];
  const run = async (input: Record<string, unknown>) => {
    const runId = await client.start('checkout', { input });
    return { runId, final: await client.wait(runId, { timeoutMs: 60_000 }) };
  };
  const order = { amount: 42, card: '4242', address: '1 Main St' };

  beforeAll(async () => {
    python = pythonWithRequirements();
    writeFileSync(join(dir, 'checkout.yaml'), SEQUENCE);
    writeFileSync(join(dir, 'pay.yaml'), PAY);
    const created = await lockstep(['topics', 'create', '--partitions', '2', '--sequences', dir], { env });
    expect(created.code, created.stderr).toBe(0);
    const orchestrator = spawn(process.execPath, [BIN, 'orchestrator', '--sequences', dir], { env, stdio: 'ignore' });
    children.push(orchestrator);
    worker = spawnWorker();
    client = createLockstepClient({ brokers, prefix, logLevel: 'nothing' });
  }, 300_000);

  afterAll(async () => {
    await client?.close();
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('succeeds, with each handler run once and the idempotency key', async () => {
    const { runId, final } = await run(order);
    expect(final.status, worker.stderr()).toBe('succeeded');
    const results = final.snapshot.context.results as Record<string, Record<string, unknown>>;
    expect(results.charge?.chargeId).toMatch(/^ch-/);
    expect(results.ship?.tracking).toBe(`TR-${runId.slice(0, 8)}`);
    const charges = effects(runId).filter((e) => e.effect === 'charge');
    expect(charges).toEqual([expect.objectContaining({ taskId: 'charge', phase: 'main', idempotencyKey: `${runId}:charge:1` })]);
  }, 90_000);

  it('skips records that are not lockstep commands, and goes on', async () => {
    const producer = rawKafka(brokers).producer();
    await producer.connect();
    const runId = randomUUID();
    await producer.send({
      topic: `${prefix}.commands.payments`,
      messages: [
        { key: runId, value: 'not json' },
        { key: runId, value: JSON.stringify({ v: 1, type: 'task.dispatch', id: 'x', runId, taskId: 'charge', attempt: 1, payload: {} }) },
      ],
    });
    await producer.disconnect();
    const { final } = await run(order);
    expect(final.status, worker.stderr()).toBe('succeeded');
    const skipped = () => worker.stderr().match(/not a lockstep command: skipped/g)?.length ?? 0;
    for (const t0 = Date.now(); skipped() < 2 && Date.now() - t0 < 30_000; ) await new Promise((r) => setTimeout(r, 100));
    expect(skipped()).toBe(2);
    expect(worker.child.exitCode).toBe(null);
    expect(effects(runId)).toEqual([]);
  }, 90_000);

  it('reports an exception as task.failed: a retriable one is retried, a ValueError fails the run', async () => {
    const retried = await run({ ...order, carrierDown: true });
    expect(retried.final.status).toBe('succeeded');
    expect(effects(retried.runId).filter((e) => e.effect === 'ship')).toEqual([expect.objectContaining({ attempt: 2 })]);
    const history = await client.history(retried.runId);
    const failedFirst = history?.entries.find((e) => e.type === 'task.failed');
    expect(failedFirst).toMatchObject({ task: 'ship', attempt: 1, error: { message: 'carrier unreachable', retriable: true } });

    const declined = await run({ ...order, card: 'declined' });
    expect(declined.final.status).toBe('failed');
    expect(declined.final.final?.failedTasks).toEqual(['charge']);
    const failure = (await client.history(declined.runId))?.entries.find((e) => e.type === 'task.failed');
    expect(failure).toMatchObject({
      task: 'charge',
      attempt: 1,
      error: { message: 'card declined', retriable: false, type: 'ValueError' },
    });
    // Not retriable: one attempt; nothing was charged, so nothing is compensated.
    expect(effects(declined.runId)).toEqual([]);
  }, 120_000);

  it('compensates with the compensation handler, never charging again', async () => {
    const { runId, final } = await run({ ...order, address: '' });
    expect(final.status).toBe('failed');
    expect(final.final?.failedTasks).toEqual(['ship']);
    const done = effects(runId);
    expect(done.map((e) => `${e.effect} ${e.taskId} ${e.phase}`)).toEqual(['charge charge main', 'refund charge.compensate compensate']);
  }, 90_000);

  it('cancels a long task: the handler sees the flag, and the charge is refunded', async () => {
    const runId = await client.start('checkout', { input: { ...order, packingMs: 120_000 } });
    const t0 = Date.now();
    while (!effects(runId).some((e) => e.effect === 'ship-started')) {
      expect(Date.now() - t0, worker.stderr()).toBeLessThan(60_000);
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancelledAt = Date.now();
    await client.cancel(runId, 'customer changed their mind');
    const final = await client.wait(runId, { timeoutMs: 60_000 });
    expect(final.status).toBe('cancelled');
    // The worker reported the stopped attempt itself: well before the orchestrator's 15 s stop grace.
    expect(Date.now() - cancelledAt).toBeLessThan(12_000);
    const stopped = (await client.history(runId))?.entries.find((e) => e.type === 'task.stopped');
    expect(stopped).toMatchObject({
      task: 'ship',
      how: 'reported',
      error: { code: 'TASK_CANCELLED', message: 'cancelled: run cancelled' },
    });
    expect(effects(runId).map((e) => e.effect)).toEqual(['charge', 'ship-started', 'refund']);
  }, 120_000);

  it('does not run a dispatch whose attempt was cancelled while it waited behind a running task', async () => {
    const long = await client.start('checkout', { input: { ...order, packingMs: 120_000 } });
    const t0 = Date.now();
    while (!effects(long).some((e) => e.effect === 'ship-started')) {
      expect(Date.now() - t0, worker.stderr()).toBeLessThan(60_000);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Its charge is dispatched while the worker is busy: the dispatch waits behind the long ship.
    const queued = await client.start('checkout', { input: order });
    while ((await client.status(queued))?.currentTask !== 'charge') await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1_000));
    await client.cancel(queued, 'not wanted');
    await new Promise((r) => setTimeout(r, 1_000));
    await client.cancel(long, 'not wanted either');
    const [queuedFinal, longFinal] = await Promise.all([
      client.wait(queued, { timeoutMs: 60_000 }),
      client.wait(long, { timeoutMs: 60_000 }),
    ]);
    expect([queuedFinal.status, longFinal.status]).toEqual(['cancelled', 'cancelled']);
    // Reported by the worker (cancelled before it started), and never charged.
    const stopped = (await client.history(queued))?.entries.find((e) => e.type === 'task.stopped');
    expect(stopped).toMatchObject({
      task: 'charge',
      how: 'reported',
      error: { code: 'TASK_CANCELLED', message: 'cancelled: before it started: run cancelled', retriable: false },
    });
    expect(effects(queued)).toEqual([]);
    expect(effects(long).map((e) => e.effect)).toEqual(['charge', 'ship-started', 'refund']);
  }, 120_000);

  it('closes its consumer on SIGTERM: a restarted worker takes the next task without a session-timeout stall', async () => {
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.stderr()).toContain('"worker": "stopped"');
    const restartedAt = Date.now();
    worker = spawnWorker();
    const { final } = await run(order);
    const stallMs = Date.now() - restartedAt;
    expect(final.status, worker.stderr()).toBe('succeeded');
    process.stderr.write(`python worker restart: next task done ${stallMs} ms after the new worker started\n`);
    // librdkafka's default session timeout is 45 s, and the example's own is 10 s: neither is waited for.
    expect(stallMs).toBeLessThan(20_000);
  }, 120_000);

  it("the README's loop, as pasted: picks handlers by taskId and phase, fails on a ValueError, closes on SIGTERM", async () => {
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const script = join(dir, 'readme_worker.py');
    writeFileSync(script, readmeLoop());
    worker = spawnWorker([script]);
    const paid = await client.start('pay', { input: { card: '4242' } });
    const compensated = await client.wait(paid, { timeoutMs: 60_000 });
    // confirm has no handler in the loop: not retriable, so charge is compensated by refund.
    expect(compensated.status, worker.stderr()).toBe('failed');
    const results = compensated.snapshot.context.results as Record<string, unknown>;
    expect(results.charge).toEqual({ chargeId: `ch-${paid}:charge:1` });
    const entries = (await client.history(paid))?.entries ?? [];
    expect(entries.find((e) => e.type === 'task.failed')).toMatchObject({
      task: 'confirm',
      error: { message: 'no handler for confirm (main)', retriable: false },
    });
    expect(entries.find((e) => e.type === 'task.succeeded' && e.phase === 'compensate')).toMatchObject({
      task: 'charge.compensate',
      result: { refunded: `ch-${paid}:charge:1` },
    });
    const declined = await client.start('pay', { input: { card: 'declined' } });
    const failed = await client.wait(declined, { timeoutMs: 60_000 });
    expect(failed.final?.failedTasks).toEqual(['charge']);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 120_000);
});
