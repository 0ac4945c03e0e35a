// A task that never completes (`sleep 3600`) with a `timeout:`: the timeout fires at its due time (never before),
// the stopped attempt is killed and has ended before the next one starts, the retry policy applies, and then
// `onFailure: continue` lets the run go on. Nothing hangs and no stuck process is left behind.
import { execFileSync } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { Deployment, recordedTask } from './support/deployment.js';
import { RUNS, recordScenario } from './support/report.js';
import { seededRandom, sleep } from './support/seeded-random.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const TIMEOUT_MS = 2_000;
const random = seededRandom('stuck-task');
// A sleep no other process on the machine runs, so that what is left of it can be found.
const STUCK = `sleep 3600.${String(random.seed).padStart(10, '0')}`;
const SEQUENCE = `name: stuck
version: 1
tasks:
  - id: t1
    run: ${JSON.stringify(recordedTask())}
  - id: t2
    run: ${JSON.stringify(recordedTask(STUCK))}
    timeout: ${TIMEOUT_MS}ms
    retry: { maxAttempts: 2, backoff: { initial: 100ms } }
    onFailure: continue
  - id: t3
    run: ${JSON.stringify(recordedTask())}
`;

const d = new Deployment({ brokers: BROKERS, sequences: { 'stuck.yaml': SEQUENCE } });
afterAll(() => d.stop(), 60_000);

const stuckProcesses = (): string[] => {
  try {
    return execFileSync('pgrep', ['-f', STUCK], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
};

it(`stuck-task: ${RUNS} runs whose t2 never completes time out twice and go on`, async () => {
  const t0 = Date.now();
  await d.setUp();
  await d.addOrchestrator();
  await Promise.all([d.addWorker(), d.addWorker()]);
  // Runs started at random moments, so that their timeouts come due all through the scenario.
  const runIds: string[] = [];
  while (runIds.length < RUNS) {
    runIds.push(...(await d.startRuns(Math.min(random.int(5, 25), RUNS - runIds.length), 'stuck')));
    await sleep(random.int(0, 500));
  }
  await d.waitEnded(runIds, 240_000);
  expect(runIds.filter((id) => d.states.get(id)?.status !== 'succeeded')).toEqual([]);

  // Lateness of each timeout: the failure's time less the attempt's start plus the timeout.
  await expect
    .poll(() => d.histories().filter((h) => h.entries.some((e) => e.type === 'run.succeeded')).length, { timeout: 20_000 })
    .toBe(RUNS);
  const lateness: number[] = [];
  for (const h of d.histories()) {
    const started = new Map<number, number>();
    for (const e of h.entries) {
      if (e.type === 'task.started' && e.task === 't2') started.set(e.attempt, e.at);
      if (e.type === 'task.failed' && e.task === 't2') {
        expect(e.error.code, `${h.runId}: ${e.error.message}`).toBe('TASK_TIMEOUT');
        lateness.push(e.at - (started.get(e.attempt)! + TIMEOUT_MS));
      }
    }
    const failed = h.entries.filter((e) => e.type === 'task.failed').map((e) => (e as { attempt: number }).attempt);
    expect(failed, h.runId).toEqual([1, 2]);
    expect(
      h.entries.some((e) => e.type === 'task.succeeded' && e.task === 't3'),
      h.runId,
    ).toBe(true);
  }
  lateness.sort((a, b) => a - b);
  expect(lateness.length).toBe(2 * RUNS);
  expect(lateness[0]!, 'a timeout fired before it was due').toBeGreaterThanOrEqual(0);
  // Every stuck attempt was killed: no end in the side-effect log, and no process left.
  expect(d.executions().filter((x) => x.taskId === 't2' && x.endedAt !== undefined)).toEqual([]);
  await expect.poll(stuckProcesses, { timeout: 10_000 }).toEqual([]);

  const report = d.check(runIds);
  const p = (q: number) => lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))]!;
  const row = d.row('stuck-task', runIds, report, {
    recoveryMs: null,
    seconds: Math.round((Date.now() - t0) / 1000),
    notes: `t2 runs ${STUCK.split('.')[0]} with timeout ${TIMEOUT_MS} ms, 2 attempts, onFailure continue (seed ${random.seed}); ${lateness.length} timeouts fired, none early; lateness (fired - due) min ${lateness[0]} ms, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${lateness.at(-1)} ms`,
  });
  recordScenario(row);
  expect(row.lostRuns).toBe(0);
  expect(row.orderViolations).toBe(0);
  expect(row.duplicateAdvancements).toBe(0);
  expect(row.duplicateDispatches).toBe(0);
}, 600_000);
