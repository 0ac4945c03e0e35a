// The leader of a busy events partition SIGKILLed in a 3-node cluster, then restarted. The scenario has its own
// cluster (scripts/kafka/cluster.mjs: three KRaft nodes on loopback, each a broker and a controller quorum voter;
// replication factor 3 and min.insync.replicas 2 for every topic, the offsets and transaction state topics
// included). Two orchestrators and two workers (OS processes) drive RUNS runs of a five-task recorded sequence; at
// a random moment of the load, the node leading the events partition with the most runs in flight is SIGKILLed,
// stays down a random 2-5 s, and is started again.
//
// Recovery time: from the SIGKILL until the first history entry written after it on that partition (the
// partition's runs advanced again, under a new leader).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tailFile } from '../../scripts/kafka/broker.mjs';
import type { KafkaCluster } from '../../scripts/kafka/cluster.mjs';
import { startCluster } from '../../scripts/kafka/cluster.mjs';
import { partitionOf } from '../../src/adapters/kafka/kafka-client.js';
import { rawAdmin } from '../support/raw-kafka.js';
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
  servedAgainMs,
  stuckRuns,
} from './support/kafka-faults.js';
import { RUNS, recordScenario } from './support/report.js';

const ORDER = ['t1', 't2', 't3', 't4', 't5'];
const PARTITIONS = 6;

describe('fault: the leader of a busy events partition SIGKILLed in a 3-node cluster', () => {
  let cluster: KafkaCluster;
  let d: Deployment;
  beforeAll(async () => {
    cluster = await startCluster({ nodes: 3, heapMb: 384, log: false });
    d = new Deployment({
      brokers: cluster.brokers,
      sequences: { 'five.yaml': recordedSequence('five', ORDER.length) },
      partitions: PARTITIONS,
      replicationFactor: 3,
    });
    await d.setUp();
  }, 240_000);
  afterAll(async () => {
    await d?.stop();
    await cluster?.stop();
  }, 60_000);

  it(`${RUNS} runs of ${ORDER.length} tasks cross the leader's death: none lost, none out of order, none advanced twice`, async () => {
    const t0 = Date.now();
    const random = seededRandom('leader-kill');
    const admin = await rawAdmin(cluster.brokers);
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [d.topics.events, d.topics.history, d.topics.runs] });
      for (const topic of metadata.topics)
        for (const p of topic.partitions) expect(p.replicas.length, `${topic.name} partition ${p.partitionId}`).toBe(3);
    } finally {
      await admin.disconnect();
    }
    await d.addOrchestrator();
    await d.addOrchestrator();
    await d.addWorker();
    await d.addWorker();

    const total = RUNS * ORDER.length;
    const moment = faultMoment(random.next, total);
    const downMs = 2_000 + Math.round(3_000 * random.next());
    const runIds = await d.startRuns(RUNS, 'five');
    await dispatched(d, moment);

    // The busiest partition: the one with the most runs in flight; its leader now.
    const busy = new Map<number, number>();
    for (const id of runIds)
      if (d.states.get(id)?.status !== 'succeeded') busy.set(partitionOf(id, PARTITIONS), (busy.get(partitionOf(id, PARTITIONS)) ?? 0) + 1);
    const [partition, runsThere] = [...busy].sort((a, b) => b[1] - a[1])[0]!;
    const probe = await rawAdmin(cluster.brokers);
    const leader = await probe
      .fetchTopicMetadata({ topics: [d.topics.events] })
      .then((m) => m.topics[0]!.partitions.find((p) => p.partitionId === partition)!.leader)
      .finally(() => probe.disconnect());
    const crossing = inFlight(d, RUNS);
    const killedAt = Date.now();
    await cluster.node(leader).kill('SIGKILL');
    await delay(downMs);
    await cluster.node(leader).start();
    await cluster.waitForNodes();

    try {
      await d.waitEnded(runIds, 240_000);
    } catch (error) {
      throw new Error(
        `${stuckRuns(d, runIds)}\n${(error as Error).message.slice(0, 20_000)}\n--- node ${leader}\n${tailFile(cluster.node(leader).logFile, 30)}`,
      );
    }
    expect(d.running('orchestrator').length + d.running('worker').length).toBe(4);
    await logSettled(d);
    const recoveryMs = servedAgainMs(d, [partition], killedAt);
    const report = checkDeployment(d, runIds, ORDER);
    const row = d.row('leader-kill', runIds, report, {
      recoveryMs,
      seconds: (Date.now() - t0) / 1000,
      notes:
        `node ${leader} of 3, leader of events partition ${partition} (${runsThere} runs in flight there, ${crossing} in all), ` +
        `SIGKILLed at dispatch ${moment} of ${total}, down ${downMs} ms, restarted; RF 3, min.insync.replicas 2; ` +
        `recovery: until that partition's next history entry; seed ${random.seed}`,
    });
    recordScenario(row);
    console.log(JSON.stringify(row));
    expect(report.violations.slice(0, 10), executionLines(d, report)).toEqual([]);
    expect(report.problems.slice(0, 10)).toEqual([]);
    expect(row).toMatchObject({ runsFinished: RUNS, lostRuns: 0, orderViolations: 0, duplicateAdvancements: 0, duplicateDispatches: 0 });
    expect(recoveryMs).not.toBeNull();
  });
});
