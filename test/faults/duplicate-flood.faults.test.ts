// The events topic flooded, while runs are in flight, with copies of real completion events (same id and fresh
// ids), re-sent in a shuffled order, and with stale attempts (a retried task's first attempt, failed or made to
// look successful): lockstep ignores and counts them all, and nothing advances twice.
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { Deployment, recordedTask } from './support/deployment.js';
import { advancements, completions, EventsProducer } from './support/raw-events.js';
import { RUNS, recordScenario } from './support/report.js';
import { seededRandom, sleep } from './support/seeded-random.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const TASKS = ['t1', 't2', 't3', 't4', 't5'];
// t2 fails its first attempt and succeeds its second: its attempt 1 is stale once attempt 2 is out.
const SEQUENCE = `name: flood
version: 1
tasks:
${TASKS.map((id) =>
  id === 't2'
    ? `  - id: t2\n    run: ${JSON.stringify('sleep 0.1; [ "$LOCKSTEP_ATTEMPT" -ge 2 ]')}\n    retry: { maxAttempts: 2, backoff: { initial: 100ms } }\n`
    : `  - id: ${id}\n    run: ${JSON.stringify(recordedTask('sleep 0.1'))}\n`,
).join('')}`;

const d = new Deployment({ brokers: BROKERS, sequences: { 'flood.yaml': SEQUENCE } });
let producer: EventsProducer | undefined;
afterAll(async () => {
  await producer?.close().catch(() => {});
  await d.stop();
}, 60_000);

it(`duplicate-flood: duplicate, shuffled and stale completions over ${RUNS} runs advance nothing`, async () => {
  const random = seededRandom('duplicate-flood');
  const t0 = Date.now();
  await d.setUp();
  await d.addOrchestrator();
  await Promise.all([d.addWorker(), d.addWorker()]);
  producer = await EventsProducer.connect(d);
  let runIds: string[] = [];
  let started = false;
  const starting = d.startRuns(RUNS, 'flood').then((ids) => {
    runIds = ids;
    started = true;
  });
  const kinds = { copy: 0, freshId: 0, staleFailure: 0, staleSuccess: 0 };
  // Waves of copies at random moments, until every run has ended.
  while (!started || d.ended(runIds) < runIds.length) {
    await sleep(random.int(50, 400));
    const real = completions(d);
    if (real.length === 0) continue;
    const wave: Array<{ key: string; value: string }> = [];
    for (let i = 0; i < random.int(20, 80); i++) {
      const e = real[random.int(0, real.length - 1)]!;
      const pick = random.next();
      if (e.taskId === 't2' && e.attempt === 2 && e.type === 'task.succeeded' && pick < 0.3) {
        // Attempt 1 of t2 "succeeded": stale, its attempt 2 was already dispatched.
        wave.push({ key: e.runId, value: JSON.stringify({ ...e, id: randomUUID(), attempt: 1 }) });
        kinds.staleSuccess++;
      } else if (e.type === 'task.failed') {
        wave.push({ key: e.runId, value: JSON.stringify({ ...e, id: randomUUID() }) });
        kinds.staleFailure++;
      } else if (pick < 0.5) {
        wave.push({ key: e.runId, value: JSON.stringify(e) });
        kinds.copy++;
      } else {
        wave.push({ key: e.runId, value: JSON.stringify({ ...e, id: randomUUID(), time: new Date().toISOString() }) });
        kinds.freshId++;
      }
    }
    await producer.send(random.shuffle(wave));
  }
  await starting;
  await d.waitEnded(runIds, 120_000);
  expect(runIds.filter((id) => d.states.get(id)?.status !== 'succeeded')).toEqual([]);
  expect(producer.sent).toBeGreaterThan(RUNS);

  // Each run advanced once per task, in order: t2's first attempt failed once, and nothing else was taken.
  await expect
    .poll(() => d.histories().filter((h) => h.entries.some((e) => e.type === 'run.succeeded')).length, { timeout: 20_000 })
    .toBe(RUNS);
  const histories = d.histories();
  let ignored = 0;
  for (const h of histories) {
    const a = advancements(h);
    expect(a.succeeded, h.runId).toEqual(TASKS);
    expect(a.failed, h.runId).toEqual(['t2#1']);
    ignored += a.ignored;
  }
  // The orchestrator counted what it ignored.
  const stats = d
    .running('orchestrator')[0]!
    .lines.filter((l) => l.event === 'stats')
    .at(-1) as { ignored?: Record<string, number> };
  expect(ignored).toBeGreaterThan(0);

  const report = d.check(runIds);
  const row = d.row('duplicate-flood', runIds, report, {
    recoveryMs: null,
    seconds: Math.round((Date.now() - t0) / 1000),
    notes: `${producer.sent} copies sent, shuffled, in waves (seed ${random.seed}): ${kinds.copy} exact, ${kinds.freshId} with a fresh id, ${kinds.staleFailure} of a stale failed attempt, ${kinds.staleSuccess} of a stale attempt made successful; ${ignored} recorded as event.ignored (orchestrator: ${JSON.stringify(stats?.ignored ?? {})})`,
  });
  recordScenario(row);
  expect(row.lostRuns).toBe(0);
  expect(row.orderViolations).toBe(0);
  expect(row.duplicateAdvancements).toBe(0);
  expect(row.duplicateDispatches).toBe(0);
}, 600_000);
