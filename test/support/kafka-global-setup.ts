// vitest globalSetup: gives the test run a real Kafka broker.
//
// - KAFKA_BROKERS set: that cluster is used (it must answer describeCluster() within 20 s).
// - Otherwise: a single-node Kafka 3.9.1 broker is assembled from Maven Central jars
//   (scripts/kafka/broker.mjs; Java and Maven needed, jars cached after the first run),
//   started on free loopback ports in a temp dir, and stopped by the teardown.
//
// Either way process.env.KAFKA_BROKERS is set and test files read the address with
// `inject('kafkaBrokers')`.
import type { TestProject } from 'vitest/node';
import { ensureKafkaJars, type KafkaBroker, startBroker, waitForKafka } from '../../scripts/kafka/broker.mjs';

const EXTERNAL_TIMEOUT_MS = 20_000;

const ALTERNATIVE =
  'Alternative: set KAFKA_BROKERS to a reachable Kafka broker (e.g. `npm run kafka:up`, then ' +
  'KAFKA_BROKERS=127.0.0.1:19092), and the tests will use it instead of starting their own.';

function log(message: string): void {
  // The broker's own console (WARN and up) is in its broker.log as well; keep test output quiet.
  if (message.startsWith('broker: ') && !process.env.LOCKSTEP_KAFKA_VERBOSE) return;
  process.stderr.write(`[kafka-global-setup] ${message}\n`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) {
    try {
      await waitForKafka(external, { timeoutMs: EXTERNAL_TIMEOUT_MS });
    } catch (err) {
      throw new Error(
        `KAFKA_BROKERS=${external} is set but that Kafka cluster is not reachable: ` +
          `${err instanceof Error ? err.message : String(err)}. ` +
          'Start it (e.g. `npm run kafka:up`), or unset KAFKA_BROKERS to let the tests start their own broker.',
      );
    }
    log(`using the Kafka cluster at KAFKA_BROKERS=${external}`);
    project.provide('kafkaBrokers', external);
    return async () => {};
  }

  let broker: KafkaBroker;
  try {
    await ensureKafkaJars({ log });
    broker = await startBroker({ log });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`Could not start a Kafka broker for the tests.\n${message}\n${ALTERNATIVE}`);
  }
  process.env.KAFKA_BROKERS = broker.brokers;
  project.provide('kafkaBrokers', broker.brokers);

  return async () => {
    await broker.stop();
    if (process.env.KAFKA_BROKERS === broker.brokers) delete process.env.KAFKA_BROKERS;
  };
}
