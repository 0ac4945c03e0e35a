// Clock jumps: the wall clock of a worker steps forward an hour, another's back an hour, and the orchestrator's
// back an hour, at random moments while runs are in flight (a preload shifts Date; monotonic time does not move).
// Task timeouts are the orchestrator's timers: none fires early, and none waits for the hour the clock went back.
// A worker's clock only stamps its outcome messages: they still advance their runs once each.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Deployment, recordedTask } from './support/deployment.js';
import { RUNS, recordScenario } from './support/report.js';
import { seededRandom, sleep } from './support/seeded-random.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const HOUR = 3_600_000;
const TIMEOUT_MS = 1_500;
const random = seededRandom('clock-jump');
const STUCK = `sleep 3600.${String(random.seed).padStart(10, '1')}`;
const SEQUENCE = `name: jump
version: 1
tasks:
  - id: t1
    run: ${JSON.stringify(recordedTask('sleep 0.1'))}
  - id: t2
    run: ${JSON.stringify(recordedTask(STUCK))}
    timeout: ${TIMEOUT_MS}ms
    onFailure: continue
  - id: t3
    run: ${JSON.stringify(recordedTask('sleep 0.1'))}
`;
const PRELOAD = join(import.meta.dirname, 'support', 'clock-jump.mjs');
/** A process whose wall clock steps by `jumpMs` on SIGUSR2. */
const jumpEnv = (jumpMs: number): NodeJS.ProcessEnv => ({
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PRELOAD}`.trim(),
  LOCKSTEP_FAULTS_JUMP_MS: String(jumpMs),
});

const d = new Deployment({ brokers: BROKERS, sequences: { 'jump.yaml': SEQUENCE } });
afterAll(() => d.stop(), 60_000);

const stuckProcesses = (): string[] => {
  try {
    return execFileSync('pgrep', ['-f', STUCK], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

it(`clock-jump: worker clocks +1 h and -1 h, the orchestrator's -1 h, under ${RUNS} runs`, async () => {
  const t0 = Date.now();
  await d.setUp();
  const orchestrator = await d.addOrchestrator([], jumpEnv(-HOUR));
  const [forward, back] = await Promise.all([d.addWorker([], jumpEnv(HOUR)), d.addWorker([], jumpEnv(-HOUR))]);
  // Each clock steps at a random moment while timeouts are armed: once a t2 attempt is running.
  const jumps = random.shuffle([orchestrator, forward, back]).map((s) => ({ s, afterRuns: random.int(RUNS / 5, (RUNS * 4) / 5) }));
  const jumped: string[] = [];
  const runIds: string[] = [];
  while (runIds.length < RUNS) {
    runIds.push(...(await d.startRuns(Math.min(random.int(5, 20), RUNS - runIds.length), 'jump')));
    await sleep(random.int(0, 400));
    for (const j of jumps) {
      if (jumped.some((x) => x.startsWith(`${j.s.name} `)) || runIds.length < j.afterRuns) continue;
      while (!d.executions().some((x) => x.taskId === 't2' && x.endedAt === undefined && Date.now() - x.startedAt < TIMEOUT_MS / 2))
        await sleep(20);
      j.s.child.kill('SIGUSR2');
      jumped.push(`${j.s.name} after ${runIds.length} runs`);
    }
  }
  // An hour-long wait would show here: every run ends within minutes.
  await d.waitEnded(runIds, 240_000);
  expect(runIds.filter((id) => d.states.get(id)?.status !== 'succeeded')).toEqual([]);
  for (const s of d.running('orchestrator').concat(d.running('worker'))) expect(s.stderr(), s.name).toContain('clock jumped');

  // Lateness of each timeout (fired - due), on the orchestrator's clock: one whose attempt began before the jump
  // and timed out after it is off by the jump, which is added back.
  await expect
    .poll(() => d.histories().filter((h) => h.entries.some((e) => e.type === 'run.succeeded')).length, { timeout: 20_000 })
    .toBe(RUNS);
  const lateness: number[] = [];
  let acrossJump = 0;
  for (const h of d.histories()) {
    const started = h.entries.find((e) => e.type === 'task.started' && e.task === 't2');
    const failed = h.entries.find((e) => e.type === 'task.failed' && e.task === 't2');
    expect(failed && failed.type === 'task.failed' ? failed.error.code : undefined, h.runId).toBe('TASK_TIMEOUT');
    let late = failed!.at - (started!.at + TIMEOUT_MS);
    if (late < -HOUR / 2) acrossJump++;
    // The preload may be loaded more than once (a worker thread inherits NODE_OPTIONS): steps of an hour each.
    while (late < -HOUR / 2) late += HOUR;
    lateness.push(late);
  }
  lateness.sort((a, b) => a - b);
  expect(acrossJump, "no timeout was armed across the orchestrator's step").toBeGreaterThan(0);
  expect(lateness[0]!, 'a timeout fired before it was due').toBeGreaterThanOrEqual(0);
  expect(lateness.at(-1)!, 'a timeout waited for the clock to catch up').toBeLessThan(60_000);
  await expect.poll(stuckProcesses, { timeout: 10_000 }).toEqual([]);

  const report = d.check(runIds);
  const p = (q: number) => lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))]!;
  const row = d.row('clock-jump', runIds, report, {
    recoveryMs: null,
    seconds: Math.round((Date.now() - t0) / 1000),
    notes: `wall clock stepped at random moments (seed ${random.seed}): orchestrator -1 h, a worker +1 h, another -1 h, each while a timeout was armed (${jumped.join(', ')}); ${lateness.length} ${TIMEOUT_MS} ms task timeouts (${acrossJump} across the orchestrator's step), none early: lateness min ${lateness[0]} ms, p50 ${p(0.5)} ms, max ${lateness.at(-1)} ms`,
  });
  recordScenario(row);
  expect(row.lostRuns).toBe(0);
  expect(row.orderViolations).toBe(0);
  expect(row.duplicateAdvancements).toBe(0);
  expect(row.duplicateDispatches).toBe(0);
}, 600_000);
