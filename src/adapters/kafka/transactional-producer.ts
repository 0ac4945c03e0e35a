import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kafka, Producer, ProducerConfig } from 'kafkajs';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { sleep } from './encoding.js';
import { kafkaErrorTypes } from './kafka-client.js';

/** The parts of kafkajs' (internal) cluster that find brokers. */
interface CoordinatorLookup {
  findGroupCoordinator(request: { groupId: string; coordinatorType?: number }): Promise<object>;
  findBroker(request: { nodeId: number | string }): Promise<object>;
}

/** The parts of kafkajs' (internal) cluster that tell which broker leads a partition, from its metadata. */
interface LeaderLookup {
  findTopicPartitionMetadata(topic: string): ReadonlyArray<{ partitionId: number; leader?: number | null }>;
  findLeaderForPartitions(topic: string, partitions: ReadonlyArray<number | string>): Record<string, number[]>;
}

/**
 * Sends of a transactional producer that reach one broker, whatever kafkajs' retries do: see {@link brokerSends}.
 */
export interface BrokerSends {
  /** The broker leading the partition in the producer's metadata; undefined while that metadata is not loaded. */
  leader(topic: string, partition: number): number | undefined;
  /**
   * Runs `send` (`sendBatch` calls of the producer's open transaction) pinned to broker `leader`: an attempt that
   * would reach another broker (a partition's leader moved) fails before it sends anything, and is not retried.
   */
  pinned<T>(leader: number, send: () => Promise<T>): Promise<T>;
}

/**
 * A pinned send's attempt would reach another broker. Not retriable for kafkajs, which stops at once (nothing of
 * that attempt was sent); the caller sends what is left by other means.
 */
class LeaderMovedError extends LockstepError {
  constructor(message: string) {
    super(ErrorCode.transportUnavailable, message, { retriable: false });
    this.name = 'LeaderMovedError';
  }
}

/** True when a pinned send stopped because a partition's leader is no longer its broker. */
export const isLeaderMoved = (error: unknown): boolean => kafkaErrorTypes(error).includes('LeaderMovedError');

/** The broker each pinned send may reach, through kafkajs' calls and its retry timers. */
const pinnedLeader = new AsyncLocalStorage<number>();
const brokerSendsOf = new WeakMap<Producer, BrokerSends>();

/** The pinned sends of a producer made by {@link createTransactionalProducer}; undefined for any other producer. */
export const brokerSends = (producer: Producer): BrokerSends | undefined => brokerSendsOf.get(producer);

/** kafkajs 2.x keeps the factory of its clients' clusters under this (private) symbol. */
const CREATE_CLUSTER = 'private:Kafka:createCluster';

/** Requests that register a partition in the open transaction: rejected while the previous one still completes. */
const REGISTERING = new Set<PropertyKey>(['addPartitionsToTxn', 'addOffsetsToTxn']);
/** Waits before sending a registering request again: ~127 ms in all, then the error is the caller's. */
const REGISTER_BACKOFF_MS = [1, 2, 4, 8, 16, 32, 64];

/**
 * Makes a transactional producer that spends fewer broker round trips per transaction than kafkajs alone. What
 * is sent, to which coordinator and in which order is unchanged; so are the guarantees. Its sends can also be
 * pinned to one broker ({@link brokerSends}).
 *
 * - Coordinators are remembered. kafkajs asks a broker where the coordinator is (FindCoordinator) before every
 *   AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn: four extra round trips per transaction, on
 *   the critical path of every orchestrator step. As Java clients do, the coordinator found is kept until a request
 *   sent to it fails (NOT_COORDINATOR, a lost connection, ...); its connection is still kafkajs' to manage.
 * - A transaction that begins right after the previous one committed finds the coordinator still writing that
 *   one's commit markers, and AddPartitionsToTxn or AddOffsetsToTxn is rejected with CONCURRENT_TRANSACTIONS
 *   (nothing changed). kafkajs retries it after its general backoff, 100 ms and more; like Java clients, these two
 *   are sent again after 1 ms, then 2, 4, ... ms.
 *
 * Falls back to a plain `kafka.producer(config)` when the kafkajs internals are not what this expects.
 */
export function createTransactionalProducer(kafka: Kafka, config: ProducerConfig): Producer {
  const holder = kafka as unknown as Record<symbol, unknown>;
  const key = Object.getOwnPropertySymbols(holder).find((s) => s.description === CREATE_CLUSTER);
  const create = key ? holder[key] : undefined;
  if (!key || typeof create !== 'function') return kafka.producer(config);
  let cluster: unknown;
  holder[key] = (...args: unknown[]) => (cluster = (create as (...a: unknown[]) => unknown)(...args));
  let producer: Producer;
  try {
    producer = kafka.producer(config);
  } finally {
    holder[key] = create;
  }
  const lookup = cluster as Partial<CoordinatorLookup> | undefined;
  if (typeof lookup?.findGroupCoordinator === 'function' && typeof lookup.findBroker === 'function')
    cacheCoordinators(lookup as CoordinatorLookup);
  const leaders = cluster as Partial<LeaderLookup> | undefined;
  if (typeof leaders?.findTopicPartitionMetadata === 'function' && typeof leaders.findLeaderForPartitions === 'function')
    brokerSendsOf.set(producer, pinLeaders(leaders as LeaderLookup));
  return producer;
}

/**
 * Pins sends to one broker. kafkajs groups each attempt of a `sendBatch` by the leaders it finds then
 * (`findLeaderForPartitions`, after a metadata refresh on retries); a pinned send refuses an attempt whose
 * partitions are not all led by its broker, before that attempt sends anything. A `sendBatch` to several
 * partitions of one broker is then as safe as one to a single partition: each attempt is one request to one
 * broker, sent again with the same sequence numbers, which the broker deduplicates.
 */
function pinLeaders(cluster: LeaderLookup): BrokerSends {
  const find = cluster.findLeaderForPartitions.bind(cluster);
  cluster.findLeaderForPartitions = (topic, partitions) => {
    const found = find(topic, partitions);
    const pinned = pinnedLeader.getStore();
    if (pinned === undefined) return found;
    const nodes = Object.keys(found);
    const count = nodes.reduce((n, node) => n + (found[node]?.length ?? 0), 0);
    if (nodes.some((node) => node !== String(pinned)) || count !== partitions.length) {
      throw new LeaderMovedError(
        `partitions ${partitions.join(', ')} of ${topic} are no longer all led by broker ${pinned} (now ${JSON.stringify(found)})`,
      );
    }
    return found;
  };
  return {
    leader(topic, partition) {
      let metadata: ReturnType<LeaderLookup['findTopicPartitionMetadata']>;
      try {
        metadata = cluster.findTopicPartitionMetadata(topic);
      } catch {
        return undefined; // no metadata loaded yet
      }
      const leader = metadata.find((p) => p.partitionId === partition)?.leader;
      return typeof leader === 'number' && leader >= 0 ? leader : undefined;
    },
    pinned: (leader, send) => pinnedLeader.run(leader, send),
  };
}

/**
 * Remembers which broker is the coordinator of each id the cluster looks up, until a request sent to it fails.
 * The broker itself still comes from the cluster's pool (`findBroker`, which connects it when needed).
 */
function cacheCoordinators(cluster: CoordinatorLookup): void {
  const find = cluster.findGroupCoordinator.bind(cluster);
  const known = new Map<string, number | string>();
  cluster.findGroupCoordinator = async (request) => {
    const id = `${request.coordinatorType ?? 0}:${request.groupId}`;
    const forget = (): void => {
      known.delete(id);
    };
    const nodeId = known.get(id);
    if (nodeId !== undefined) {
      try {
        return coordinator(await cluster.findBroker({ nodeId }), forget);
      } catch {
        forget(); // gone from the cluster's metadata, or unreachable: look it up again
      }
    }
    const broker = await findWithRetry(find, request);
    const found = (broker as { nodeId?: unknown }).nodeId;
    if (typeof found === 'number' || typeof found === 'string') known.set(id, found);
    return coordinator(broker, forget);
  };
}

/** Waits before asking again when no broker could name the coordinator (kafkajs swallows why: a lost connection, a timeout). */
const LOOKUP_BACKOFF_MS = [50, 200, 500];

async function findWithRetry(
  find: CoordinatorLookup['findGroupCoordinator'],
  request: { groupId: string; coordinatorType?: number },
): Promise<object> {
  for (const backoff of LOOKUP_BACKOFF_MS) {
    try {
      return await find(request);
    } catch (error) {
      if ((error as Error).name !== 'KafkaJSGroupCoordinatorNotFound') throw error;
      await sleep(backoff);
    }
  }
  return find(request);
}

/** The coordinator's broker: registering requests are sent again while the previous transaction completes, and a failed request drops it from the cache. */
function coordinator(broker: object, forget: () => void): object {
  return new Proxy(broker, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      const call = (args: unknown[]): unknown => (value as (...a: unknown[]) => unknown).apply(target, args);
      const failed = (error: unknown): never => {
        forget();
        throw error;
      };
      if (REGISTERING.has(property)) {
        return async (...args: unknown[]) => {
          for (const backoff of REGISTER_BACKOFF_MS) {
            try {
              return await call(args);
            } catch (error) {
              if (!kafkaErrorTypes(error).includes('CONCURRENT_TRANSACTIONS')) return failed(error);
              await sleep(backoff);
            }
          }
          try {
            return await call(args);
          } catch (error) {
            return failed(error);
          }
        };
      }
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = call(args);
        } catch (error) {
          failed(error);
        }
        return result instanceof Promise ? result.catch(failed) : result;
      };
    },
  });
}
