// A worker SIGKILLed in the middle of a task, then replaced: workers are at least once, so the attempt it was
// running is redone by the next worker with the same idempotency key. Those redone attempts are the only double
// executions allowed, and the killed one never overlaps its redo. The new worker's join also moves partitions
// between the live workers: an attempt running on a partition that moves is stopped, and runs again on its new
// owner only once it has ended.
import { writeFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import type { Service } from '../support/kafka-log.js';
import { Deployment, recordedSequence } from './support/deployment.js';
import { PROFILE, RUNS, recordScenario } from './support/report.js';
import { seededRandom, sleep } from './support/seeded-random.js';
import { overlaps, repeatedAttempts } from './support/side-effects.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
/** A kill's rebalance lasts until the dead member's session times out (10 s), at most the rebalance timeout (20 s). */
const REBALANCE_WINDOW_MS = 20_000;
const KILLS = PROFILE === 'long' ? 4 : 1;
const d = new Deployment({ brokers: BROKERS, sequences: { 'x.yaml': recordedSequence('x', 5, 'sleep 0.2', { endOnStop: true }) } });
afterAll(async () => {
  if (process.env.LOCKSTEP_FAULTS_DUMP)
    for (const s of d.services) writeFileSync(`${process.env.LOCKSTEP_FAULTS_DUMP}/${s.name}.err`, s.stderr());
  await d.stop();
}, 60_000);

it(`worker-kill: ${KILLS} workers SIGKILLed mid-task over ${RUNS} runs; only their attempts run twice`, async () => {
  const random = seededRandom('worker-kill');
  const t0 = Date.now();
  await d.setUp();
  await d.addOrchestrator();
  await Promise.all([d.addWorker(), d.addWorker()]);
  const started = d.startRuns(RUNS, 'x');
  const kills: number[] = [];
  let runIds: string[] = [];
  void started.then((ids) => (runIds = ids));
  for (let k = 0; k < KILLS; k++) {
    await sleep(random.int(1_000, 4_000));
    // A worker with a task in flight, by the side-effect log.
    let victim: Service | undefined;
    for (let tries = 0; !victim && tries < 50; tries++) {
      const busy = d.running('worker').filter((w) => d.inFlightOn(w.name) > 0);
      victim = busy[random.int(0, busy.length - 1)];
      if (!victim) await sleep(20);
    }
    if (!victim) continue;
    kills.push(Date.now());
    victim.child.kill('SIGKILL');
    await victim.exited;
    await d.addWorker();
  }
  runIds = await started;
  await d.waitEnded(runIds, 240_000);
  expect(kills.length).toBeGreaterThan(0);
  expect(runIds.filter((id) => d.states.get(id)?.status !== 'succeeded')).toEqual([]);

  // The side-effect log: every (run, task, attempt) executed once, or twice when a kill cut the first one short.
  const firstRedo = new Map<number, number>();
  const repeated = repeatedAttempts(d.executions());
  for (const { key, executions } of repeated) {
    for (let i = 1; i < executions.length; i++) {
      const [first, second] = [executions[i - 1]!, executions[i]!];
      // Redelivered: the attempt the killed worker was running, or one another worker finished while the group was
      // rebalancing after the kill (until the dead member's session times out), whose commit the group refused.
      const kill = kills.find((at) => first.startedAt <= at + REBALANCE_WINDOW_MS && at <= second.startedAt);
      expect(kill, `${key}: executed again, but not across a kill's rebalance: ${JSON.stringify({ executions, kills })}`).toBeDefined();
      firstRedo.set(kill!, Math.min(firstRedo.get(kill!) ?? Number.POSITIVE_INFINITY, second.startedAt - kill!));
    }
  }
  // A killed or handed-off attempt records its end when its process group is stopped (SIGTERM from the lifeline of
  // the dead worker, or from the worker that gave its partition up); its redo starts only once it has ended, and no
  // two executions of a run overlap.
  const overlapping = overlaps(d.executions());
  if (process.env.LOCKSTEP_FAULTS_DUMP)
    writeFileSync(`${process.env.LOCKSTEP_FAULTS_DUMP}/overlaps.json`, JSON.stringify({ kills, overlapping, repeated }, null, 1));
  expect(overlapping).toEqual([]);
  // Recovery: from a kill to the first attempt run again after it (the slowest kill's).
  const recoveryMs = Math.max(0, ...firstRedo.values());
  const redone = repeated.reduce((n, r) => n + r.executions.length - 1, 0);
  expect(redone).toBeGreaterThan(0);

  const report = d.check(runIds);
  const row = d.row('worker-kill', runIds, report, {
    recoveryMs,
    seconds: Math.round((Date.now() - t0) / 1000),
    notes: `${kills.length} workers SIGKILLed mid-task (seed ${random.seed}); ${redone} attempts were redelivered and run again with the same idempotency key (at least once to workers: those the killed workers were running, and those finished elsewhere during the rebalance the kill caused, whose offsets the group did not take), counted as duplicate dispatches; none overlapped its redo; recovery = kill to the first redo (the consumer session timeout)`,
  });
  recordScenario({ ...row, duplicateDispatches: row.duplicateDispatches + redone });
  expect(row.lostRuns).toBe(0);
  expect(row.orderViolations).toBe(0);
  expect(row.duplicateAdvancements).toBe(0);
}, 600_000);
