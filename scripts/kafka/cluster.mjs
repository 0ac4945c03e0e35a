// A real Kafka cluster of several KRaft nodes on loopback (each broker and controller in one JVM, all of them
// voters of the controller quorum), for tests of faults that need replication: a partition leader killed, a node
// restarted. Each node is a broker of ./broker.mjs with a shared cluster id and the whole quorum in
// `controller.quorum.voters`; internal topics and new topics are replicated to every node (at most 3).
//
//   const cluster = await startCluster({ nodes: 3 });
//   await cluster.node(2).kill(); await cluster.node(2).start();
//
// Types: ./cluster.d.mts.

import { freePort, kafkaUuid, startBroker, waitForKafka } from './broker.mjs';
import { sleep } from './process-tools.mjs';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 180_000;

/** `n` distinct free ports. */
async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Waits until the cluster lists `nodes` brokers (every node registered and unfenced). */
async function waitForNodes(brokers, nodes, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const cluster = await waitForKafka(brokers, { timeoutMs: Math.max(1_000, deadline - Date.now()) });
    if (cluster.brokers.length >= nodes) return cluster;
    if (Date.now() >= deadline) throw new Error(`Kafka cluster at ${brokers} lists ${cluster.brokers.length} of ${nodes} brokers`);
    await sleep(250);
  }
}

/**
 * Starts a cluster of `nodes` KRaft nodes and waits until every one is a registered broker.
 * See cluster.d.mts for the options and the returned handle.
 */
export async function startCluster(options = {}) {
  const nodes = options.nodes ?? 3;
  const replication = Math.min(3, nodes);
  const minIsr = Math.max(1, Math.min(2, replication - 1));
  const readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const ports = await freePorts(2 * nodes);
  const ids = Array.from({ length: nodes }, (_, i) => i + 1);
  const voters = ids.map((id, i) => `${id}@${HOST}:${ports[2 * i + 1]}`).join(',');
  const clusterId = kafkaUuid();
  const properties = {
    'default.replication.factor': replication,
    'min.insync.replicas': minIsr,
    'offsets.topic.replication.factor': replication,
    'transaction.state.log.replication.factor': replication,
    'transaction.state.log.min.isr': minIsr,
    // Kafka's defaults (1 s, 2 s) elect a new quorum leader again and again on a busy machine (2 cores, several
    // JVMs); a few seconds more still elect one well within a fault scenario.
    'controller.quorum.election.timeout.ms': 3_000,
    'controller.quorum.fetch.timeout.ms': 6_000,
    ...options.properties,
  };
  const started = await Promise.allSettled(
    ids.map((nodeId, i) =>
      startBroker({
        nodeId,
        port: ports[2 * i],
        controllerPort: ports[2 * i + 1],
        voters,
        clusterId,
        heapMb: options.heapMb ?? 384,
        properties,
        readyTimeoutMs,
        ...(options.log === undefined ? {} : { log: options.log }),
        ...(options.libsDir ? { libsDir: options.libsDir } : {}),
      }),
    ),
  );
  const handles = started.filter((s) => s.status === 'fulfilled').map((s) => s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(handles.map((h) => h.stop()));
    throw new Error(
      `Kafka cluster: a node did not start: ${failed.reason instanceof Error ? failed.reason.message : String(failed.reason)}`,
    );
  }
  const brokers = handles.map((h) => h.brokers).join(',');
  try {
    await waitForNodes(brokers, nodes, readyTimeoutMs);
  } catch (error) {
    await Promise.all(handles.map((h) => h.stop()));
    throw error;
  }
  return {
    brokers,
    clusterId,
    nodes: handles,
    replicationFactor: replication,
    minInsyncReplicas: minIsr,
    node(id) {
      const handle = handles[id - 1];
      if (!handle) throw new Error(`Kafka cluster: no node ${id} (nodes are 1 to ${nodes})`);
      return handle;
    },
    waitForNodes(timeoutMs = readyTimeoutMs) {
      return waitForNodes(brokers, nodes, timeoutMs);
    },
    async stop() {
      await Promise.all(handles.map((h) => h.stop()));
    },
  };
}
