// Types for ./cluster.mjs (a real Kafka cluster of several KRaft nodes on loopback).
import type { KafkaBroker, KafkaLog } from './broker.mjs';

export interface StartClusterOptions {
  /** Nodes, each a broker and a voter of the controller quorum. Default 3. */
  nodes?: number;
  /** -Xmx of each node in MB. Default 384. */
  heapMb?: number;
  /**
   * Extra or overriding server.properties entries of every node. By default topics and the internal topics
   * (offsets, transaction state) are replicated to min(3, nodes) nodes, with min.insync.replicas 2 (1 for 2 nodes or
   * fewer); the quorum's election and fetch timeouts are 3 s and 6 s.
   */
  properties?: Record<string, string | number | boolean>;
  /** How long to wait for the nodes to be ready. Default 180 000. */
  readyTimeoutMs?: number;
  libsDir?: string;
  log?: KafkaLog;
}

export interface KafkaCluster {
  /** Every node's "127.0.0.1:PORT", comma-separated, for kafkajs `brokers` / KAFKA_BROKERS. */
  readonly brokers: string;
  readonly clusterId: string;
  /** The nodes, node id i at index i - 1: kill, start, restart one of them (see KafkaBroker). */
  readonly nodes: readonly KafkaBroker[];
  readonly replicationFactor: number;
  readonly minInsyncReplicas: number;
  /** The node with this node id (1 to nodes). */
  node(id: number): KafkaBroker;
  /** Waits until every node is a registered broker again (after a restart, say). */
  waitForNodes(timeoutMs?: number): Promise<unknown>;
  /** Stops every node and removes their data. */
  stop(): Promise<void>;
}

/** Starts every node at once (a quorum needs a majority up) and resolves once each one is a registered broker. */
export declare function startCluster(options?: StartClusterOptions): Promise<KafkaCluster>;
