// Orchestrators scaled 1 -> 3 -> 1 under load, so the group rebalances twice. One orchestrator and two workers
// (OS processes) drive RUNS runs of a five-task recorded sequence; at a random moment of the load two more
// orchestrators join, and at a later random moment they leave with a clean SIGTERM (they leave the group, and the
// partitions move back without waiting for a session to expire).
//
// Recovery time: the longest pause in history entries (no orchestrator wrote any) from the first scale step until
// the load ended: how long the group stood still in the worst rebalance.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Deployment, recordedSequence } from './support/deployment.js';
import {
  checkDeployment,
  dispatched,
  executionLines,
  faultMoment,
  inFlight,
  logSettled,
  longestPauseMs,
  seededRandom,
  stableGroup,
} from './support/kafka-faults.js';
import { RUNS, recordScenario } from './support/report.js';

const ORDER = ['t1', 't2', 't3', 't4', 't5'];

describe('fault: orchestrators scaled 1 -> 3 -> 1 under load', () => {
  const d = new Deployment({ brokers: inject('kafkaBrokers'), sequences: { 'five.yaml': recordedSequence('five', ORDER.length) } });
  beforeAll(() => d.setUp(), 60_000);
  afterAll(() => d.stop(), 60_000);

  it(`${RUNS} runs of ${ORDER.length} tasks cross two rebalances: none lost, none out of order, none advanced twice`, async () => {
    const t0 = Date.now();
    const random = seededRandom('rebalance');
    await d.addOrchestrator();
    await stableGroup(d, 1);
    await d.addWorker();
    await d.addWorker();

    const total = RUNS * ORDER.length;
    const up = faultMoment(random.next, total, 0.1, 0.3);
    const down = faultMoment(random.next, total, 0.5, 0.7);
    const started = d.startRuns(RUNS, 'five');

    await dispatched(d, up);
    const upAt = Date.now();
    const crossingUp = inFlight(d, RUNS);
    const joined = await Promise.all([d.addOrchestrator(), d.addOrchestrator()]);
    await stableGroup(d, 3);

    await dispatched(d, Math.max(down, up + 1));
    const crossingDown = inFlight(d, RUNS);
    const codes = await Promise.all(joined.map((s) => s.stop('SIGTERM')));
    expect(codes).toEqual([0, 0]);
    await stableGroup(d, 1);

    const runIds = await started;
    await d.waitEnded(runIds, 240_000);
    await logSettled(d);
    const recoveryMs = longestPauseMs(d, upAt);
    const report = checkDeployment(d, runIds, ORDER);
    const row = d.row('rebalance', runIds, report, {
      recoveryMs,
      seconds: (Date.now() - t0) / 1000,
      notes:
        `1 -> 3 orchestrators at dispatch ${up} (${crossingUp} runs in flight), 3 -> 1 by SIGTERM at dispatch ${down} ` +
        `(${crossingDown} in flight) of ${total}; recovery: longest pause in history entries after the first step; seed ${random.seed}`,
    });
    recordScenario(row);
    console.log(JSON.stringify(row));
    expect(report.violations.slice(0, 10), executionLines(d, report)).toEqual([]);
    expect(report.problems.slice(0, 10)).toEqual([]);
    expect(row).toMatchObject({ runsFinished: RUNS, lostRuns: 0, orderViolations: 0, duplicateAdvancements: 0, duplicateDispatches: 0 });
  });
});
