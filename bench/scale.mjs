// npm run bench:scale -- [--orchestrators 1,2,3] [--workers 1] [--runs 500] [--tasks 5] [--partitions 12] [--rounds 2]
//                        [--seconds 20] [--warmup 8]
// Kafka mode across orchestrator processes: for each count, that many orchestrator processes (the public
// startKafkaOrchestrator, one consumer group) and --workers worker processes over a --partitions-partition events
// topic (topics of their own per count), with --runs runs of --tasks no-op tasks kept in flight by a client in this
// process (a new run starts when one ends), in --rounds rounds of alternating order. Prints, for each count (its
// best round), steps/s (task outcomes recorded per second, summed over the orchestrators) and the ratio to the first
// count in the same run, per-partition figures (steps, runs finished, the orchestrator that recorded them, the
// group's lag on it at the end of the window), events per transaction, and the CPU each kind of process used, in
// all and per step: orchestrators, workers, this client, the broker, other processes and the machine as a whole,
// which tell whether the curve flattens because the cores are full (the broker shares them) or inside lockstep.
// Needs a build (npm run build) and a broker: KAFKA_BROKERS, else one started from scripts/kafka/broker.mjs.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sequence } from 'lockstep';
import { createLockstepClient, createTopics, createWorker, startKafkaOrchestrator } from 'lockstep/kafka';
import { createKafka, partitionOf } from '../dist/adapters/kafka/kafka-client.js';
import { KafkaJournal } from '../dist/runtime/journals/kafka/kafka-journal.js';
import { brokerForBench } from '../scripts/kafka/broker.mjs';
import { brokerPids, cpuMeter, formatCpu } from './proc-stats.mjs';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    prefix: { type: 'string' },
    orchestrators: { type: 'string', default: '1,2,3' },
    workers: { type: 'string', default: '1' },
    runs: { type: 'string', default: '500' },
    tasks: { type: 'string', default: '5' },
    partitions: { type: 'string', default: '12' },
    seconds: { type: 'string', default: '20' },
    /** Each round measures every count, in alternating order (1,2,3 then 3,2,1): the best of each count is printed. */
    rounds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '8' },
  },
});
const P = Number(values.partitions);
const N = Number(values.tasks);
const quiet = () => ({ brokers: process.env.KAFKA_BROKERS, logLevel: 'nothing' });

/** The workload's sequence: N no-op tasks on one queue, the same in every process. */
function noopSequence() {
  let b = sequence('noop');
  for (let i = 0; i < N; i++) b = b.then(`t${i}`, { queue: 'bench' });
  return b.build();
}

if (values.role === 'orchestrator') await orchestratorProcess();
else if (values.role === 'worker') await workerProcess();
else await main();

/**
 * An orchestrator process: counts the entries it records per events partition (the run id's partition) and tells
 * the parent which runs finished, as they do.
 */
async function orchestratorProcess() {
  // The journal writes one offset record per transaction: counting them counts the transactions.
  let transactions = 0;
  const offsetRecord = KafkaJournal.prototype.offsetRecord;
  KafkaJournal.prototype.offsetRecord = function (...args) {
    transactions++;
    return offsetRecord.apply(this, args);
  };
  let applied0 = 0;
  let counts = new Map();
  let ended = [];
  const count = (p) => {
    let c = counts.get(p);
    if (!c) counts.set(p, (c = { steps: 0, runs: 0 }));
    return c;
  };
  const metrics = {
    observe(entry) {
      if (entry.type === 'task.succeeded') count(partitionOf(entry.runId, P)).steps++;
      else if (entry.type === 'run.succeeded' || entry.type === 'run.failed' || entry.type === 'run.cancelled') {
        count(partitionOf(entry.runId, P)).runs++;
        ended.push(entry.runId);
      }
    },
    watch() {},
    watchRunsInFlight() {},
    watchLag() {},
  };
  const service = await startKafkaOrchestrator({ ...quiet(), prefix: values.prefix, sequences: [noopSequence()], metrics, tracer: false });
  const flush = setInterval(() => {
    if (ended.length === 0) return;
    process.send({ type: 'ended', runIds: ended });
    ended = [];
  }, 10);
  process.on('message', async (m) => {
    if (m.type === 'reset') {
      counts = new Map();
      transactions = 0;
      applied0 = service.orchestrator.stats.applied;
    } else if (m.type === 'counts')
      process.send({ type: 'counts', counts: [...counts], transactions, applied: service.orchestrator.stats.applied - applied0 });
    else if (m.type === 'stop') {
      clearInterval(flush);
      await service.close().catch(() => {});
      process.exit(0);
    }
  });
  process.send({ type: 'ready' });
}

async function workerProcess() {
  const worker = await createWorker({ ...quiet(), prefix: values.prefix, queue: 'bench', handlers: { '*': () => undefined } });
  process.on('message', async (m) => {
    if (m.type !== 'stop') return;
    await worker.close().catch(() => {});
    process.exit(0);
  });
  process.send({ type: 'ready' });
}

/** Forks this script in `role`; resolves once the child says it is ready. */
function child(role, prefix, onMessage = () => {}) {
  const proc = fork(fileURLToPath(import.meta.url), ['--role', role, '--prefix', prefix, '--tasks', String(N), '--partitions', String(P)], {
    env: process.env,
  });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${role} process exited with ${code} before it was ready`)));
    proc.on('message', (m) => {
      if (m.type === 'ready') resolve(proc);
      else onMessage(m);
    });
  });
}

/** Asks a child for something and waits for its answer of that type. */
function ask(proc, type) {
  return new Promise((resolve) => {
    const listener = (m) => {
      if (m.type !== type) return;
      proc.off('message', listener);
      resolve(m);
    };
    proc.on('message', listener);
    proc.send({ type });
  });
}

async function stopChild(proc) {
  if (proc.exitCode !== null) return;
  proc.removeAllListeners('exit');
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.send({ type: 'stop' });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The group's lag on each events partition (from the offsets it hints once a second), or undefined. */
async function lagOf(admin, topic, group) {
  try {
    const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: group, topics: [topic] })]);
    const at = new Map((committed[0]?.partitions ?? []).map((c) => [c.partition, BigInt(c.offset)]));
    return new Map(ends.map((e) => [e.partition, Number(BigInt(e.high) - (at.get(e.partition) ?? BigInt(e.low)))]));
  } catch {
    return undefined;
  }
}

/** One count of orchestrators: its topics, processes, warm-up and measured window. */
async function measure(orchestrators, workers, runs, seconds, warmup, admin) {
  const prefix = `bench-scale-${randomUUID().slice(0, 8)}-o${orchestrators}`;
  await createTopics({ ...quiet(), prefix, partitions: P, queues: ['bench'] });
  const client = createLockstepClient({ ...quiet(), prefix });
  const inFlight = new Set();
  /** Runs that ended before their start's publish resolved here. */
  const early = new Set();
  let running = true;
  let failed;
  const startOne = () => {
    client
      .start('noop')
      .then((id) => {
        if (!early.delete(id)) inFlight.add(id);
        else if (running) startOne();
      })
      .catch((error) => {
        failed ??= error;
      });
  };
  const onEnded = (m) => {
    if (m.type !== 'ended') return;
    for (const id of m.runIds) {
      if (!inFlight.delete(id)) early.add(id);
      else if (running) startOne();
    }
  };
  const workerProcs = await Promise.all(Array.from({ length: workers }, () => child('worker', prefix)));
  const orchestratorProcs = [];
  // One after the other: each join is a rebalance, as when a deployment adds orchestrators.
  for (let i = 0; i < orchestrators; i++) orchestratorProcs.push(await child('orchestrator', prefix, onEnded));
  try {
    for (let i = 0; i < runs; i++) startOne();
    await sleep(warmup * 1000);
    for (const o of orchestratorProcs) o.send({ type: 'reset' });
    const meter = cpuMeter({
      orchestrators: orchestratorProcs.map((p) => p.pid),
      workers: workerProcs.map((p) => p.pid),
      client: [process.pid],
      broker: brokerPids(process.env.KAFKA_BROKERS),
    });
    await sleep(seconds * 1000);
    const answers = await Promise.all(orchestratorProcs.map((o) => ask(o, 'counts')));
    const cpu = meter.stop();
    const lag = await lagOf(admin, `${prefix}.events`, `${prefix}-orchestrators`);
    running = false;
    if (failed) throw failed;
    const perPartition = new Map();
    answers.forEach((a, i) => {
      for (const [p, c] of a.counts) {
        const row = perPartition.get(p) ?? { steps: 0, runs: 0, owners: [] };
        row.steps += c.steps;
        row.runs += c.runs;
        row.owners.push(`o${i + 1}`);
        perPartition.set(p, row);
      }
    });
    const steps = [...perPartition.values()].reduce((s, r) => s + r.steps, 0);
    const ended = [...perPartition.values()].reduce((s, r) => s + r.runs, 0);
    const transactions = answers.reduce((s, a) => s + a.transactions, 0);
    const applied = answers.reduce((s, a) => s + a.applied, 0);
    return {
      orchestrators,
      steps,
      stepsPerSecond: steps / cpu.seconds,
      runsPerSecond: ended / cpu.seconds,
      eventsPerTransaction: applied / Math.max(1, transactions),
      perPartition,
      lag,
      cpu,
    };
  } finally {
    running = false;
    await Promise.all([...orchestratorProcs, ...workerProcs].map(stopChild));
    await client.close().catch(() => {});
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    await admin.deleteTopics({ topics }).catch(() => {});
  }
}

async function main() {
  const log = (line) => process.stderr.write(`[bench:scale] ${line}\n`);
  const broker = await brokerForBench(log);
  const counts = values.orchestrators.split(',').map(Number);
  const workers = Number(values.workers);
  const runs = Number(values.runs);
  const seconds = Number(values.seconds);
  const admin = createKafka({ clientId: 'bench-scale', brokers: process.env.KAFKA_BROKERS, logLevel: 'nothing' }).admin();
  await admin.connect();
  const best = new Map();
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const count of round % 2 === 0 ? counts : [...counts].reverse()) {
        log(
          `round ${round + 1}: ${count} orchestrator process(es), ${workers} worker process(es), ${P} partitions, ${runs} runs in flight x ${N} tasks`,
        );
        const r = await measure(count, workers, runs, seconds, Number(values.warmup), admin);
        log(`  ${Math.round(r.stepsPerSecond)} steps/s; ${formatCpu(r.cpu)}`);
        if (!best.has(count) || best.get(count).stepsPerSecond < r.stepsPerSecond) best.set(count, r);
      }
    }
  } finally {
    await admin.disconnect().catch(() => {});
    await broker?.stop();
  }
  const results = counts.map((c) => best.get(c));
  const base = results[0];
  for (const r of results) {
    console.log(
      `\n${r.orchestrators} orchestrator(s): ${Math.round(r.stepsPerSecond)} steps/s, ${Math.round(r.runsPerSecond)} runs/s, ${(r.stepsPerSecond / base.stepsPerSecond).toFixed(2)}x ${base.orchestrators} orchestrator(s)`,
    );
    const ours = Object.values(r.cpu.cores).reduce((a, b) => a + b, 0);
    const perStep = (cores) => `${Math.round((cores * 1e6) / r.stepsPerSecond)} µs`;
    console.log(
      `  ${formatCpu(r.cpu)}; other processes ${(r.cpu.machine - ours).toFixed(2)}; per orchestrator ${(r.cpu.cores.orchestrators / r.orchestrators).toFixed(2)}`,
    );
    console.log(
      `  CPU per step: orchestrators ${perStep(r.cpu.cores.orchestrators)}, workers ${perStep(r.cpu.cores.workers)}, broker ${perStep(r.cpu.cores.broker)}; ${r.eventsPerTransaction.toFixed(1)} events per transaction`,
    );
    console.log('  partition  owner   steps/s  runs/s  lag');
    for (const p of [...r.perPartition.keys()].sort((a, b) => a - b)) {
      const row = r.perPartition.get(p);
      const lag = r.lag?.get(p);
      console.log(
        `  ${String(p).padStart(9)}  ${row.owners.join('+').padEnd(6)}  ${String(Math.round(row.steps / r.cpu.seconds)).padStart(7)}  ${String(Math.round(row.runs / r.cpu.seconds)).padStart(6)}  ${lag ?? '-'}`,
      );
    }
  }
  process.exit(0);
}
