// Kafka mode survives a broker crash. An orchestrator and a worker (separate OS processes, `node bin/lockstep.js`,
// so `npm run build` first) drive runs on this file's own broker; while runs are in flight the broker is SIGKILLed,
// left down a few seconds and restarted on the same data. Every run must finish, none may advance twice, and the
// services must reconnect instead of dying. A `lockstep start --wait` issued during the outage fails with a clear,
// retriable error, and the same command succeeds once the broker is back.
//
// The processes run with NODE_ENV=test, as everything vitest starts does: kafkajs then gives up a request after ~5 s
// of retries (instead of ~25 s), so this outage (3 s down + the restart) outlasts every client's retries, and the
// services must recover from requests that failed, not only from slow ones.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaBroker } from '../../scripts/kafka/broker.mjs';
import { startBroker, tailFile } from '../../scripts/kafka/broker.mjs';
import type { Envelope } from '../../src/core/protocol/envelope.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import type { LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient } from '../../src/modes/kafka/index.js';
import { BIN, lockstep, ROOT } from '../support/cli.js';
import type { Service } from '../support/kafka-log.js';
import { plainKafka, startService, TopicLog } from '../support/kafka-log.js';
import { checkRunLog } from './run-log-checker.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-kafka-broker-restart-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const RUNS = 30;
const ORDER = ['t1', 't2', 't3', 't4', 't5'];
/** Dispatches seen before the broker is killed: every run started, a third of all tasks dispatched. */
const KILL_AFTER_DISPATCHES = 50;
/** The broker stays down at least this long, and until the client started during the outage has answered. */
const DOWN_MS = 3_000;
const CLIENT_ANSWER_LIMIT_MS = 15_000;
/** The broker's heap (startBroker's default, stated because the shared broker of globalSetup runs meanwhile). */
const HEAP_MB = 512;
const ENV = { NODE_ENV: 'test' };

const machines = mkdtempSync(join(scratch, 'broker-restart-'));
writeFileSync(
  join(machines, 'steady.yaml'),
  `name: steady\nversion: 1\ntasks:\n${ORDER.map((t) => `  - id: ${t}\n    run: sleep 0.2\n`).join('')}`,
);

interface Answer {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** When the process exited. */
  readonly at: number;
}

/** A CLI command started now, as its own process; killed if it has not answered in 50 s. */
function startCli(args: readonly string[]): Promise<Answer> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, at: Date.now() });
    }),
  );
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('Kafka mode: a broker SIGKILLed and restarted while runs are in flight', () => {
  const prefix = `restart-${randomUUID().slice(0, 8)}`;
  const topics = topicNames(prefix);
  const runIds: string[] = [];
  const clientRunId = randomUUID();
  const states = new Map<string, RunState>();
  let broker: KafkaBroker | undefined;
  let services: Service[] = [];
  let log: TopicLog | undefined;
  let runsLog: TopicLog | undefined;
  let outage: { dispatchedBefore: number; endedBefore: number; downAt: number; restartAt: number; upAt: number };
  let duringOutage: Answer | undefined;
  /** A client awaiting every run across the crash, through its one subscription. */
  let waiter: LockstepClient | undefined;
  let awaited: Promise<RunState[]> | undefined;

  const ended = (ids: readonly string[]) =>
    ids.filter((id) => {
      const s = states.get(id);
      return s && s.status !== 'running';
    }).length;
  const diagnostics = () =>
    [
      ...services.map((s) => `--- ${s.name} (exit ${s.child.exitCode ?? s.child.signalCode ?? 'none'})\n${s.stderr().slice(-3000)}`),
      `--- broker\n${broker ? tailFile(broker.logFile, 30) : ''}`,
    ].join('\n');
  const check = (ids: readonly string[]) => checkRunLog(log!.of(topics.events), log!.of(topics.commands('default')), ids, ORDER);

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('this test runs bin/lockstep.js: run `npm run build` first');
    broker = await startBroker({ log: false, heapMb: HEAP_MB });
    const { brokers } = broker;
    const created = await lockstep(
      ['topics', 'create', '--brokers', brokers, '--prefix', prefix, '--partitions', '3', '--sequences', machines],
      { env: ENV },
    );
    expect(created.code, created.stderr).toBe(0);
    const common = ['--brokers', brokers, '--prefix', prefix, '--sequences', machines, '--stats-interval', '1000'];
    services = [startService('orchestrator', ['orchestrator', ...common], ENV), startService('worker', ['worker', ...common], ENV)];
    await Promise.all(services.map((s) => s.ready));

    // Runs in flight: every run started, some tasks done, most still to come.
    let dispatched = 0;
    let progressed!: () => void;
    const progress = new Promise<void>((resolve) => (progressed = resolve));
    const kafka = plainKafka(brokers);
    const commandsLog = await TopicLog.start(kafka, [topics.commands('default')], (r) => {
      if (r.value?.includes('"task.dispatch"') && ++dispatched === KILL_AFTER_DISPATCHES) progressed();
    });
    const statesLog = await TopicLog.start(kafka, [topics.runs], (r) => {
      if (r.key && r.value) states.set(r.key, JSON.parse(r.value) as RunState);
    });
    const client = createLockstepClient({ brokers, prefix, logLevel: 'nothing' });
    try {
      runIds.push(...(await Promise.all(Array.from({ length: RUNS }, (_, i) => client.start('steady', { input: { i } })))));
      await progress;
    } finally {
      await Promise.all([commandsLog.stop(), statesLog.stop(), client.close()]);
    }
    const dispatchedBefore = dispatched;
    const endedBefore = ended(runIds);
    states.clear();

    waiter = createLockstepClient({ brokers, prefix, logLevel: 'nothing' });
    awaited = waiter.waitAll(runIds, { timeoutMs: 120_000 });
    awaited.catch(() => {});
    // Its subscription follows before the crash.
    await waiter.status(runIds[0]!);

    // The crash: SIGKILL; a client asks for a run while the broker is down; back on the same data.
    await broker.kill('SIGKILL');
    const downAt = Date.now();
    const answer = startCli([
      'start',
      'steady',
      '--wait',
      '--run-id',
      clientRunId,
      '--timeout',
      '40000',
      '--brokers',
      brokers,
      '--prefix',
      prefix,
    ]);
    await Promise.all([delay(DOWN_MS), Promise.race([answer.then((a) => (duringOutage = a)), delay(CLIENT_ANSWER_LIMIT_MS)])]);
    const restartAt = Date.now();
    await broker.start();
    outage = { dispatchedBefore, endedBefore, downAt, restartAt, upAt: Date.now() };

    // The whole log, read from the beginning after the restart (committed records only).
    log = await TopicLog.start(kafka, [topics.events, topics.commands('default')]);
    runsLog = await TopicLog.start(kafka, [topics.runs], (r) => {
      if (r.key && r.value) states.set(r.key, JSON.parse(r.value) as RunState);
    });
  }, 90_000);

  afterAll(async () => {
    await waiter?.close().catch(() => {});
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    await log?.stop().catch(() => {});
    await runsLog?.stop().catch(() => {});
    await broker?.stop();
  }, 30_000);

  it(`${RUNS} runs of ${ORDER.length} tasks in flight at the crash all succeed, each task dispatched once and in order`, async () => {
    expect(outage.dispatchedBefore).toBeLessThan(RUNS * ORDER.length);
    expect(outage.endedBefore).toBe(0);
    const until = Date.now() + 40_000;
    while (ended(runIds) < RUNS) {
      if (Date.now() > until) throw new Error(`${ended(runIds)} of ${RUNS} runs ended within 40 s of the restart\n${diagnostics()}`);
      await delay(100);
    }
    expect(runIds.map((id) => states.get(id)!.status).filter((s) => s !== 'succeeded')).toEqual([]);
    for (const id of runIds) expect((states.get(id)!.snapshot.context as { completed: string[] }).completed).toEqual(ORDER);

    await expect.poll(() => check(runIds).dispatches, { timeout: 10_000 }).toBeGreaterThanOrEqual(RUNS * ORDER.length);
    const report = check(runIds);
    expect(report.problems).toEqual([]);
    expect(report.dispatches).toBe(RUNS * ORDER.length);

    // At least once: an attempt may be reported twice (a dispatch delivered again); its run advanced once.
    const reports = new Map<string, number>();
    for (const r of log!.of(topics.events)) {
      const e = JSON.parse(r.value!) as Envelope;
      if (e.type !== 'task.succeeded' || !runIds.includes(e.runId)) continue;
      const key = `${e.runId}:${e.taskId}:${e.attempt}`;
      reports.set(key, (reports.get(key) ?? 0) + 1);
    }
    expect(reports.size).toBe(RUNS * ORDER.length);
    const repeated = [...reports.values()].filter((n) => n > 1).length;
    console.log(
      `broker down ${outage.restartAt - outage.downAt} ms, serving again ${outage.upAt - outage.downAt} ms after the kill; ` +
        `${outage.dispatchedBefore} of ${RUNS * ORDER.length} dispatches before it; ${repeated} attempt(s) reported more than once`,
    );
  }, 60_000);

  it('a client waiting for every run across the crash gets each final state: its subscription recovers and reads again', async () => {
    const finals = await awaited!;
    expect(finals.map((f) => f.runId)).toEqual(runIds);
    expect(finals.map((f) => f.status).filter((s) => s !== 'succeeded')).toEqual([]);
  }, 120_000);

  it('the orchestrator and the worker reconnected: both processes are still running', () => {
    const exits = services.map((s) => ({ name: s.name, code: s.child.exitCode, signal: s.child.signalCode }));
    expect(exits).toEqual(services.map((s) => ({ name: s.name, code: null, signal: null })));
  });

  it('`lockstep start --wait` during the outage fails with a retriable error; the same command succeeds after the restart', async () => {
    expect(duringOutage, `the client did not answer within ${CLIENT_ANSWER_LIMIT_MS} ms of the broker going down`).toBeDefined();
    const failed = duringOutage!;
    expect(failed.at).toBeLessThanOrEqual(outage.restartAt);
    expect(failed.code, failed.stderr).toBe(7); // ExitCode.transportUnavailable
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toMatch(/^lockstep: cannot publish to Kafka: .*ECONNREFUSED.* \(TRANSPORT_UNAVAILABLE\)$/m);

    const retried = await startCli([
      'start',
      'steady',
      '--wait',
      '--run-id',
      clientRunId,
      '--timeout',
      '40000',
      '--brokers',
      broker!.brokers,
      '--prefix',
      prefix,
    ]);
    expect(retried.code, `${retried.stderr}\n${diagnostics()}`).toBe(0);
    expect(retried.stdout).toMatch(new RegExp(`^${clientRunId}: succeeded steady v1 in `));
    // The failed attempt started nothing: one run.start, one dispatch per task.
    await expect.poll(() => check([clientRunId]).dispatches, { timeout: 10_000 }).toBe(ORDER.length);
    expect(check([clientRunId]).problems).toEqual([]);
    const starts = log!.of(topics.events).filter((r) => r.key === clientRunId && r.value!.includes('"run.start"'));
    expect(starts).toHaveLength(1);
  }, 60_000);
});
