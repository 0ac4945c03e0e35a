import type { Kafka, Producer, ProducerConfig } from 'kafkajs';
import { sleep } from './encoding.js';
import { kafkaErrorTypes } from './kafka-client.js';

/** The parts of kafkajs' (internal) cluster that find brokers. */
interface CoordinatorLookup {
  findGroupCoordinator(request: { groupId: string; coordinatorType?: number }): Promise<object>;
  findBroker(request: { nodeId: number | string }): Promise<object>;
}

/** kafkajs 2.x keeps the factory of its clients' clusters under this (private) symbol. */
const CREATE_CLUSTER = 'private:Kafka:createCluster';

/** Requests that register a partition in the open transaction: rejected while the previous one still completes. */
const REGISTERING = new Set<PropertyKey>(['addPartitionsToTxn', 'addOffsetsToTxn']);
/** Waits before sending a registering request again: ~127 ms in all, then the error is the caller's. */
const REGISTER_BACKOFF_MS = [1, 2, 4, 8, 16, 32, 64];

/**
 * Makes a transactional producer that spends fewer broker round trips per transaction than kafkajs alone. What
 * is sent, to which coordinator and in which order is unchanged; so are the guarantees.
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
  return producer;
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
