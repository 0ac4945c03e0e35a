// An orchestrator SIGKILLed mid-load, then restarted. Three orchestrators and two workers (OS processes) drive RUNS
// runs of a five-task recorded sequence; at a random moment of the load (a random dispatch count, seed printed)
// one orchestrator, chosen at random, is SIGKILLed and started again at once, as a supervisor would.
//
// Recovery time: from the SIGKILL until every events partition the killed orchestrator owned (the group's
// assignment just before the kill) is served again, i.e. until the first history entry written after the kill on
// each of those partitions that had work left; the largest of them. The survivors notice the death only when the
// killed member's session expires (the consumer session timeout, 6 s), then the group rebalances and the new owner
// restores the partition from the runs topic.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Deployment, recordedSequence } from './support/deployment.js';
import {
  checkDeployment,
  dispatched,
  executionLines,
  faultMoment,
  inFlight,
  logSettled,
  seededRandom,
  servedAgainMs,
  stableGroup,
} from './support/kafka-faults.js';
import { RUNS, recordScenario } from './support/report.js';

const ORDER = ['t1', 't2', 't3', 't4', 't5'];
const ORCHESTRATORS = 3;

describe('fault: an orchestrator SIGKILLed mid-load, then restarted', () => {
  const d = new Deployment({ brokers: inject('kafkaBrokers'), sequences: { 'five.yaml': recordedSequence('five', ORDER.length) } });
  beforeAll(() => d.setUp(), 60_000);
  afterAll(() => d.stop(), 60_000);

  it(`${RUNS} runs of ${ORDER.length} tasks cross the kill: none lost, none out of order, none advanced twice`, async () => {
    const t0 = Date.now();
    const random = seededRandom('orchestrator-kill');
    // One at a time, so that each process is known by the client id its group member reports.
    const clientIds: string[] = [];
    for (let i = 1; i <= ORCHESTRATORS; i++) {
      await d.addOrchestrator();
      const members = await stableGroup(d, i);
      clientIds.push(members.map((m) => m.clientId).find((c) => !clientIds.includes(c))!);
    }
    await d.addWorker();
    await d.addWorker();

    const moment = faultMoment(random.next, RUNS * ORDER.length);
    const victimIndex = Math.floor(random.next() * ORCHESTRATORS);
    const started = d.startRuns(RUNS, 'five');
    await dispatched(d, moment);
    const owned = (await stableGroup(d, ORCHESTRATORS)).find((m) => m.clientId === clientIds[victimIndex])!.partitions;
    const crossing = inFlight(d, RUNS);
    const victim = d.running('orchestrator')[victimIndex]!;
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBeNull();
    await d.addOrchestrator();

    const runIds = await started;
    await d.waitEnded(runIds, 240_000);
    await logSettled(d);
    const recoveryMs = servedAgainMs(d, owned, killedAt);
    const report = checkDeployment(d, runIds, ORDER);
    const row = d.row('orchestrator-kill', runIds, report, {
      recoveryMs,
      seconds: (Date.now() - t0) / 1000,
      notes:
        `orchestrator ${victimIndex + 1} of ${ORCHESTRATORS} SIGKILLed at dispatch ${moment} of ${RUNS * ORDER.length} ` +
        `(${crossing} runs in flight; it owned events partitions ${owned.join(',')}), restarted at once; recovery: until each ` +
        `of them had a new history entry; seed ${random.seed}`,
    });
    recordScenario(row);
    console.log(JSON.stringify(row));
    expect(report.violations.slice(0, 10), executionLines(d, report)).toEqual([]);
    expect(report.problems.slice(0, 10)).toEqual([]);
    expect(row).toMatchObject({ runsFinished: RUNS, lostRuns: 0, orderViolations: 0, duplicateAdvancements: 0, duplicateDispatches: 0 });
    expect(recoveryMs).not.toBeNull();
  });
});
