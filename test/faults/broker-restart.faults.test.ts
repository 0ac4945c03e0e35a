// The broker SIGKILLed under load and restarted on the same data. This scenario has its own single-node broker
// (scripts/kafka/broker.mjs), never the suite's: two orchestrators and two workers (OS processes) drive RUNS runs
// of a five-task recorded sequence on it; at a random moment of the load the broker is SIGKILLed, stays down a
// random 1-4 s, and is started again. Every service must reconnect instead of dying.
//
// Recovery time: from the SIGKILL until the first history entry produced after the broker was ready again (its
// downtime included).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KafkaBroker } from '../../scripts/kafka/broker.mjs';
import { startBroker, tailFile } from '../../scripts/kafka/broker.mjs';
import { Deployment, recordedSequence } from './support/deployment.js';
import {
  checkDeployment,
  delay,
  dispatched,
  executionLines,
  faultMoment,
  inFlight,
  logSettled,
  seededRandom,
} from './support/kafka-faults.js';
import { RUNS, recordScenario } from './support/report.js';

const ORDER = ['t1', 't2', 't3', 't4', 't5'];

describe('fault: the broker SIGKILLed under load, then restarted', () => {
  let broker: KafkaBroker;
  let d: Deployment;
  beforeAll(async () => {
    broker = await startBroker({ log: false, heapMb: 384 });
    d = new Deployment({ brokers: broker.brokers, sequences: { 'five.yaml': recordedSequence('five', ORDER.length) } });
    await d.setUp();
  }, 120_000);
  afterAll(async () => {
    await d?.stop();
    await broker?.stop();
  }, 60_000);

  it(`${RUNS} runs of ${ORDER.length} tasks cross the outage: none lost, none out of order, none advanced twice`, async () => {
    const t0 = Date.now();
    const random = seededRandom('broker-restart');
    await d.addOrchestrator();
    await d.addOrchestrator();
    await d.addWorker();
    await d.addWorker();

    const total = RUNS * ORDER.length;
    const moment = faultMoment(random.next, total);
    const downMs = 1_000 + Math.round(3_000 * random.next());
    // Every run is started before the outage: starting is the client's part, not what this scenario tests.
    const runIds = await d.startRuns(RUNS, 'five');
    await dispatched(d, moment);
    const crossing = inFlight(d, RUNS);
    const killedAt = Date.now();
    await broker.kill('SIGKILL');
    await delay(downMs);
    await broker.start();
    const upAt = Date.now();

    try {
      await d.waitEnded(runIds, 240_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- broker\n${tailFile(broker.logFile, 30)}`);
    }
    expect(d.running('orchestrator').length + d.running('worker').length).toBe(4);
    await logSettled(d);
    const after = d
      .of(d.topics.history)
      .map((r) => r.timestamp)
      .filter((t) => t > upAt);
    const recoveryMs = after.length > 0 ? Math.min(...after) - killedAt : null;
    const report = checkDeployment(d, runIds, ORDER);
    const row = d.row('broker-restart', runIds, report, {
      recoveryMs,
      seconds: (Date.now() - t0) / 1000,
      notes:
        `the only broker SIGKILLed at dispatch ${moment} of ${total} (${crossing} runs in flight), down ${downMs} ms, ` +
        `ready again ${upAt - killedAt} ms after the kill; recovery: until the first history entry after that; seed ${random.seed}`,
    });
    recordScenario(row);
    console.log(JSON.stringify(row));
    expect(report.violations.slice(0, 10), executionLines(d, report)).toEqual([]);
    expect(report.problems.slice(0, 10)).toEqual([]);
    expect(row).toMatchObject({ runsFinished: RUNS, lostRuns: 0, orderViolations: 0, duplicateAdvancements: 0, duplicateDispatches: 0 });
    expect(recoveryMs).not.toBeNull();
  });
});
