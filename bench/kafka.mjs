// npm run bench:kafka -- [--runs R] [--tasks N] [--partitions P] [--latency-runs L] [--floor-samples S] [--warmup SECONDS]
// Kafka mode under exactly-once: R concurrent runs x N no-op tasks through a real broker (KAFKA_BROKERS, else one
// started from scripts/kafka/broker.mjs for the bench). The orchestrator and the worker run in this process.
// Prints steps/s and the per-step latency (a task's handler returning -> the next task's handler starting: one
// event hop to the orchestrator, its transaction, one dispatch hop to the worker), and, in the same run, the floor:
// a raw kafkajs two-hop round trip (produce, consume, produce, consume) with the same client settings, and the
// ratio to it, measured in alternating rounds with lockstep's one-run latency. The relay of the floor is plain
// (idempotent producer), transactional as kafkajs does it (output and group offsets in one transaction: 9 broker
// round trips), and transactional as lockstep's orchestrator does it (3 round trips: AddPartitionsToTxn, Produce,
// EndTxn; the position goes as one more record of the output, a partition.offset record, and the coordinator is
// looked up once). Needs a build (npm run build).
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sequence } from 'lockstep';
import { createWorker, startKafkaOrchestrator } from 'lockstep/kafka';
import { CLIENT_SETTINGS, consumerConfig, createKafka, producerConfig } from '../dist/adapters/kafka/kafka-client.js';
import { createTransactionalProducer } from '../dist/adapters/kafka/transactional-producer.js';
import { ProgramRegistry } from '../dist/core/run/registry.js';
import { brokerForBench } from '../scripts/kafka/broker.mjs';
import { percentile } from './percentile.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '500' },
    tasks: { type: 'string', default: '10' },
    partitions: { type: 'string', default: '8' },
    'latency-runs': { type: 'string', default: '40' },
    'floor-samples': { type: 'string', default: '300' },
    /** Seconds of warm-up runs before measuring (default 30 with the bench's own broker, 2 with KAFKA_BROKERS): a JVM just started needs that long to get fast (JIT). */
    warmup: { type: 'string' },
  },
});
const R = Number(values.runs);
const N = Number(values.tasks);
const P = Number(values.partitions);

const log = (line) => process.stderr.write(`[bench:kafka] ${line}\n`);
const ms = (x) => `${x.toFixed(2)} ms`;

const broker = await brokerForBench(log);
const brokers = process.env.KAFKA_BROKERS;
const quiet = { brokers, logLevel: 'nothing' };

// ---- lockstep: orchestrator + worker over Kafka -------------------------------------------------------------
const prefix = `bench-${randomUUID().slice(0, 8)}`;
let b = sequence('noop');
for (let i = 0; i < N; i++) b = b.then(`t${i}`, { queue: 'bench' });
const noop = b.build();
const registry = new ProgramRegistry();
registry.register(noop, { definition: 'bench', hash: 'bench' });

const service = await startKafkaOrchestrator({ ...quiet, prefix, registry, partitions: P });
const lastEnd = new Map();
let gaps = [];
const worker = await createWorker({
  ...quiet,
  prefix,
  queue: 'bench',
  handlers: {
    '*': (ctx) => {
      const now = performance.now();
      const end = lastEnd.get(ctx.runId);
      if (end !== undefined) gaps.push(now - end);
      lastEnd.set(ctx.runId, performance.now());
      return undefined;
    },
  },
});
const orchestrator = service.orchestrator;
const run = async () => {
  const runId = await orchestrator.startRun({ sequence: 'noop' });
  const final = await orchestrator.waitFor(runId);
  lastEnd.delete(runId);
  if (final.outcome !== 'succeeded') throw new Error(`run ${runId} ${final.outcome}: ${final.reason}`);
};

const warmupSeconds = Number(values.warmup ?? (broker ? 30 : 2));
log(`warming up for ${warmupSeconds} s (partitions ${P}, tasks per run ${N})`);
await Promise.all(Array.from({ length: 50 }, run));
// A few runs at a time: many small transactions, the requests the broker then serves in the measured phases.
const until = performance.now() + warmupSeconds * 1000;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (performance.now() < until) await run();
  }),
);

// Throughput: R concurrent runs. First, so that the broker's JVM is warm (JIT) for the latencies measured next.
log(`${R} concurrent runs x ${N} tasks`);
gaps = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: R }, run));
const elapsed = performance.now() - t0;
const loaded = gaps;
gaps = [];
const stepsPerSecond = (R * N) / (elapsed / 1000);

// ---- the floor: raw kafkajs, two hops, same client settings ---------------------------------------------------
/**
 * A two-hop round trip: produce to topic a; a relay consumes it and produces it to topic b; a sink consumes it.
 * @param {'plain' | 'kafkajs' | 'lockstep'} relayMode how the relay produces: plain, or in a transaction, with the
 * group offsets as kafkajs sends them, or with an offset record in the output as lockstep's orchestrator does
 */
async function floor(relayMode) {
  const transactional = relayMode !== 'plain';
  const kafka = createKafka({ clientId: 'bench-floor', brokers, logLevel: 'nothing' }); // lockstep's client settings
  const admin = kafka.admin();
  await admin.connect();
  const [a, bTopic, offsetTopic] = [`floor-a-${randomUUID()}`, `floor-b-${randomUUID()}`, `floor-offsets-${randomUUID()}`];
  await admin.createTopics({
    waitForLeaders: true,
    topics: [a, bTopic, offsetTopic].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })),
  });
  const producer = kafka.producer(producerConfig());
  const relayConfig = producerConfig(transactional ? `floor-relay-${randomUUID()}` : undefined);
  const relayProducer = relayMode === 'lockstep' ? createTransactionalProducer(kafka, relayConfig) : kafka.producer(relayConfig);
  const relayGroup = `floor-relay-${randomUUID()}`;
  const relay = kafka.consumer(consumerConfig(relayGroup));
  const sink = kafka.consumer(consumerConfig(`floor-sink-${randomUUID()}`));
  await Promise.all([producer.connect(), relayProducer.connect(), relay.connect(), sink.connect()]);
  await relay.subscribe({ topic: a, fromBeginning: true });
  await sink.subscribe({ topic: bTopic, fromBeginning: true });
  const joined = (c) => new Promise((resolve) => c.on(c.events.GROUP_JOIN, resolve));
  const ready = Promise.all([joined(relay), joined(sink)]);
  await relay.run({
    autoCommit: !transactional,
    eachBatch: async ({ batch, resolveOffset }) => {
      const messages = batch.messages.map((m) => ({ key: m.key, value: m.value }));
      if (!transactional) {
        await relayProducer.sendBatch({ topicMessages: [{ topic: bTopic, messages }], acks: -1 });
      } else {
        // Consume-transform-produce: output and position in one transaction.
        const txn = await relayProducer.transaction();
        const next = String(BigInt(batch.lastOffset()) + 1n);
        if (relayMode === 'lockstep') {
          // As the orchestrator does it: the position is one more record of the output.
          const position = {
            key: `offset.${batch.partition}`,
            value: JSON.stringify({ partition: batch.partition, offset: next }),
            partition: 0,
          };
          await txn.sendBatch({
            topicMessages: [
              { topic: bTopic, messages },
              { topic: offsetTopic, messages: [position] },
            ],
            acks: -1,
          });
        } else {
          await txn.sendBatch({ topicMessages: [{ topic: bTopic, messages }], acks: -1 });
          await txn.sendOffsets({
            consumerGroupId: relayGroup,
            topics: [{ topic: a, partitions: [{ partition: batch.partition, offset: next }] }],
          });
        }
        await txn.commit();
      }
      resolveOffset(batch.lastOffset());
    },
  });
  let arrived;
  // The sink only measures: it commits nothing, so that no commit of its own competes with the next round trip.
  await sink.run({ autoCommit: false, eachMessage: async () => arrived?.() });
  await ready;
  let i = 0;
  const roundTrip = async () => {
    const got = new Promise((resolve) => (arrived = resolve));
    const start = performance.now();
    await producer.send({ topic: a, acks: -1, messages: [{ key: 'k', value: String(i++) }] });
    await got;
    return performance.now() - start;
  };
  for (let k = 0; k < 20; k++) await roundTrip();
  // Paused between its rounds: no fetch requests of its own while something else is measured.
  const pause = () => (relay.pause([{ topic: a }]), sink.pause([{ topic: bTopic }]));
  pause();
  return {
    /** `count` round trips, after two dropped ones (the consumers' first fetches after resuming). */
    async sample(count) {
      relay.resume([{ topic: a }]);
      sink.resume([{ topic: bTopic }]);
      await roundTrip();
      await roundTrip();
      const samples = [];
      for (let k = 0; k < count; k++) samples.push(await roundTrip());
      pause();
      return samples;
    },
    async close() {
      await Promise.all([producer.disconnect(), relayProducer.disconnect(), relay.disconnect(), sink.disconnect()]);
      await admin.deleteTopics({ topics: [a, bTopic, offsetTopic] }).catch(() => {});
      await admin.disconnect();
    },
  };
}

// Latency with one run at a time (the cost of a step without queueing), and the floor, measured in alternating
// rounds so that both see the same machine and the same broker.
log('setting up the floor (raw kafkajs two-hop round trips)');
const floors = { plain: await floor('plain'), kafkajs: await floor('kafkajs'), lockstep: await floor('lockstep') };
const floorSamples = { plain: [], kafkajs: [], lockstep: [] };
const ROUNDS = 10;
const latencyRuns = Number(values['latency-runs']);
const perRound = Math.ceil(Number(values['floor-samples']) / ROUNDS);
log(`one run at a time and the floor, in ${ROUNDS} alternating rounds`);
for (let i = 0; i < 5; i++) await run();
const idle = [];
for (let r = 0; r < ROUNDS; r++) {
  await run(); // dropped, as the floor drops its first two round trips of a round
  gaps = [];
  const runs = Math.round(((r + 1) * latencyRuns) / ROUNDS) - Math.round((r * latencyRuns) / ROUNDS);
  for (let i = 0; i < runs; i++) await run();
  idle.push(...gaps);
  for (const mode of /** @type {const} */ (['plain', 'kafkajs', 'lockstep']))
    floorSamples[mode].push(...(await floors[mode].sample(perRound)));
}
const stats = { ...orchestrator.stats };
await worker.close();
await service.close();
await Promise.all(Object.values(floors).map((f) => f.close()));
const { plain, kafkajs: tx, lockstep: txLockstep } = floorSamples;
if (broker) await broker.stop();

const p50 = percentile(idle, 50);
console.log(
  `lockstep Kafka mode, exactly-once: ${R} concurrent runs x ${N} no-op tasks, ${P} partitions, one orchestrator + one worker (this process)`,
);
console.log(
  `  client settings: maxWaitTimeInMs ${CLIENT_SETTINGS.maxWaitTimeInMs}, idempotent producers, acks -1, read_committed consumers`,
);
console.log(`  broker: ${broker ? 'started by the bench' : `KAFKA_BROKERS=${brokers}`}, warmed up for ${warmupSeconds} s first`);
console.log(`  throughput:                 ${Math.round(stepsPerSecond)} steps/s (${R * N} steps in ${(elapsed / 1000).toFixed(2)} s)`);
console.log(
  `  per-step latency, ${R} runs: p50 ${ms(percentile(loaded, 50))}  p99 ${ms(percentile(loaded, 99))}  (${loaded.length} steps)`,
);
console.log(`  per-step latency, 1 run:    p50 ${ms(p50)}  p99 ${ms(percentile(idle, 99))}  (${idle.length} steps)`);
console.log(`  floor, raw kafkajs two hops (produce, consume, produce, consume):`);
console.log(`    plain idempotent relay:     p50 ${ms(percentile(plain, 50))}  p99 ${ms(percentile(plain, 99))}`);
console.log(`    transactional relay, output + position in one transaction:`);
console.log(`      group offsets, as kafkajs sends them (9 round trips):     p50 ${ms(percentile(tx, 50))}  p99 ${ms(percentile(tx, 99))}`);
console.log(
  `      offset record, as lockstep's orchestrator (3 round trips): p50 ${ms(percentile(txLockstep, 50))}  p99 ${ms(percentile(txLockstep, 99))}`,
);
console.log(
  `  ratio of lockstep's 1-run p50 to the floor: ${(p50 / percentile(plain, 50)).toFixed(2)}x (plain), ${(p50 / percentile(tx, 50)).toFixed(2)}x (transactional, kafkajs), ${(p50 / percentile(txLockstep, 50)).toFixed(2)}x (transactional, as lockstep)`,
);
console.log(`  ratio of lockstep's ${R}-run p50 to the floor: ${(percentile(loaded, 50) / percentile(plain, 50)).toFixed(2)}x (plain)`);
console.log(`  orchestrator: applied ${stats.applied}, ignored ${JSON.stringify(stats.ignored)}, dead-lettered ${stats.deadLettered}`);
console.log(`  targets: >= 1000 steps/s with 500 concurrent runs; per-step p50 <= 3x the floor`);
