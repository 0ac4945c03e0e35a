// npm run bench:restore -- [--runs 10000] [--steps 4]
// Takeover of a partition holding many live runs. Orchestrator process A drives --runs runs over a one-partition
// events topic; each does --steps no-op tasks (a worker process runs them) and parks on a task of a queue no worker
// serves. Then a second orchestrator process joins the group, the one that owns the partition is SIGKILLed, and the
// other takes it over. Prints the time from the kill to the survivor's assignment (the group noticing the death:
// the session timeout), from the assignment to the runs restored (reading the run-state partition, parsing,
// rebuilding each run), and from the kill to a new run on that partition finishing (the partition served again);
// the orchestrator's resident memory with no runs and with --runs live runs (after a GC), so per live run; and the
// sizes of real records: a run's state, events, dispatches, history entries, and the run-state partition as the
// survivor read it. Needs a build (npm run build) and a broker: KAFKA_BROKERS, else one started for the bench.
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sequence } from 'lockstep';
import { createLockstepClient, createTopics, createWorker, startKafkaOrchestrator } from 'lockstep/kafka';
import { createKafka } from '../dist/adapters/kafka/kafka-client.js';
import { KafkaTransport } from '../dist/adapters/kafka/kafka-transport.js';
import { KafkaJournal } from '../dist/runtime/journals/kafka/kafka-journal.js';
import { latestStates } from '../dist/runtime/journals/kafka/run-state-topic.js';
import { brokerForBench } from '../scripts/kafka/broker.mjs';

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    prefix: { type: 'string' },
    runs: { type: 'string', default: '10000' },
    steps: { type: 'string', default: '4' },
  },
});
const R = Number(values.runs);
const K = Number(values.steps);
const quiet = () => ({ brokers: process.env.KAFKA_BROKERS, logLevel: 'nothing' });

/** `park`: K no-op tasks, then `hold` on a queue no worker serves. `probe`: one task, to see a partition served. */
function sequences() {
  let park = sequence('park');
  for (let i = 0; i < K; i++) park = park.then(`t${i}`, { queue: 'bench' });
  park = park.then('hold', { queue: 'parked' });
  return [park.build(), sequence('probe').then('p0', { queue: 'probe' }).build()];
}

/** Resident and heap memory after a full GC (the child runs with --expose-gc). */
function memory() {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}

/**
 * An orchestrator process. It times each restore (partition assignment to runs rebuilt) and the run-state read
 * inside it, counts runs parked on `hold`, and says when a probe run ends.
 */
async function orchestratorProcess() {
  const restores = [];
  const restore = KafkaJournal.prototype.restore;
  KafkaJournal.prototype.restore = async function (partitions, host, group) {
    const at = Date.now();
    const before = host.stats.restored;
    const result = await restore.call(this, partitions, host, group);
    const restoredAt = Date.now();
    // Again, once the restore is over: how much of it picking each run's latest state out of the records takes.
    const t0 = performance.now();
    latestStates(lastRead);
    const latestMs = performance.now() - t0;
    restores.push({ partitions, assignedAt: at, restoredAt, runs: host.stats.restored - before, latestMs });
    return result;
  };
  const reads = [];
  let lastRead = [];
  const read = KafkaTransport.prototype.readPartitions;
  KafkaTransport.prototype.readPartitions = async function (topic, partitions) {
    const t0 = Date.now();
    const out = await read.call(this, topic, partitions);
    if (topic.endsWith('.runs')) lastRead = out;
    if (topic.endsWith('.runs'))
      reads.push({
        ms: Date.now() - t0,
        records: out.length,
        bytes: out.reduce((s, m) => s + (m.value?.length ?? 0) + (m.key?.length ?? 0), 0),
      });
    return out;
  };
  let parked = 0;
  const metrics = {
    observe(entry, name) {
      if (entry.type === 'task.started' && entry.task === 'hold') parked++;
      if (name === 'probe' && entry.type.startsWith('run.') && entry.type !== 'run.started')
        process.send({ type: 'probe', at: Date.now() });
    },
    watch() {},
    watchRunsInFlight() {},
    watchLag() {},
  };
  const service = await startKafkaOrchestrator({ ...quiet(), prefix: values.prefix, sequences: sequences(), metrics, tracer: false });
  process.on('message', (m) => {
    if (m.type === 'state')
      process.send({ type: 'state', parked, active: service.orchestrator.activeRuns, restores, reads, memory: memory() });
  });
  process.send({ type: 'ready' });
}

async function workerProcess() {
  await createWorker({ ...quiet(), prefix: values.prefix, queue: 'bench', handlers: { '*': () => undefined } });
  process.send({ type: 'ready' });
}

function child(role, prefix, onMessage = () => {}) {
  const proc = fork(fileURLToPath(import.meta.url), ['--role', role, '--prefix', prefix, '--steps', String(K)], {
    env: process.env,
    execArgv: ['--expose-gc'],
  });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${role} process exited with ${code} before it was ready`)));
    proc.on('message', (m) => {
      if (m.type === 'ready') {
        proc.removeAllListeners('exit');
        resolve(proc);
      } else onMessage(m);
    });
  });
}

function state(proc) {
  return new Promise((resolve) => {
    const listener = (m) => {
      if (m.type !== 'state') return;
      proc.off('message', listener);
      resolve(m);
    };
    proc.on('message', listener);
    proc.send({ type: 'state' });
  });
}

const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
const log = (line) => process.stderr.write(`[bench:restore] ${line}\n`);

/** Value (and key) bytes of real records of each kind, read back from the topics. */
async function recordSizes(prefix, parkedRun) {
  const transport = new KafkaTransport({ ...quiet(), clientId: 'bench-restore-sizes' });
  try {
    const names = (t) => `${prefix}.${t}`;
    const [runs, events, parkedDispatches, history] = await Promise.all(
      ['runs', 'events', 'commands.parked', 'history'].map((t) => transport.readPartitions(names(t), [0])),
    );
    const latest = new Map();
    for (const r of runs) if (r.key) latest.set(r.key, r);
    const avg = (rs) => Math.round(rs.reduce((s, r) => s + (r.value?.length ?? 0), 0) / Math.max(1, rs.length));
    const byType = (rs) => {
      const groups = new Map();
      for (const r of rs) {
        const type = JSON.parse(r.value).type ?? JSON.parse(r.value).entry?.type;
        const t = type === 'run.entry' ? `run.entry ${JSON.parse(r.value).entry?.type}` : type;
        groups.set(t, [...(groups.get(t) ?? []), r]);
      }
      return [...groups].map(([t, rs]) => `${t} ${avg(rs)} B (${rs.length})`).join(', ');
    };
    return {
      parkedState: latest.get(parkedRun)?.value?.length,
      runsRecords: runs.length,
      runsBytes: runs.reduce((s, r) => s + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0),
      events: byType(events),
      dispatch: avg(parkedDispatches),
      history: byType(history),
    };
  } finally {
    await transport.close();
  }
}

async function main() {
  const broker = await brokerForBench(log);
  const prefix = `bench-restore-${randomUUID().slice(0, 8)}`;
  await createTopics({ ...quiet(), prefix, partitions: 1, queues: ['bench', 'parked', 'probe'] });
  const client = createLockstepClient({ ...quiet(), prefix });
  const probeWorker = await createWorker({ ...quiet(), prefix, queue: 'probe', handlers: { '*': () => undefined } });
  const procs = [];
  let probeEnded;
  const onMessage = (m) => {
    if (m.type === 'probe') probeEnded?.(m.at);
  };
  try {
    const a = await child('orchestrator', prefix, onMessage);
    procs.push(a, await child('worker', prefix));
    await sleep(2000);
    const empty = await state(a);
    log(`starting ${R} runs of ${K} no-op tasks each, parked on the next`);
    const ids = [];
    for (let i = 0; i < R; i += 500)
      ids.push(...(await Promise.all(Array.from({ length: Math.min(500, R - i) }, () => client.start('park')))));
    let s = await state(a);
    while (s.parked < R) {
      await sleep(500);
      s = await state(a);
    }
    const full = s;
    log(`${R} runs parked; a second orchestrator joins`);
    const b = await child('orchestrator', prefix, onMessage);
    procs.push(b);
    await sleep(3000);
    const [sa, sb] = await Promise.all([state(a), state(b)]);
    const [owner, taker, joinRestores] = sa.active === R ? [a, b, sb.restores] : [b, a, sa.restores];
    const probeAt = new Promise((resolve) => {
      probeEnded = resolve;
    });
    const killedAt = Date.now();
    owner.kill('SIGKILL');
    await client.start('probe');
    const probed = await probeAt;
    const after = await state(taker);
    const takeover = after.restores.at(-1);
    const runsRead = after.reads.at(-1);
    const sizes = await recordSizes(prefix, ids[0]);

    console.log(`\n${R} live runs on one partition (${K} steps done, parked on the next)`);
    console.log(
      `orchestrator memory after GC: ${mib(empty.memory.rss)} RSS (${mib(empty.memory.heapUsed)} heap) with 0 runs, ${mib(full.memory.rss)} (${mib(full.memory.heapUsed)}) with ${R}: ${((full.memory.rss - empty.memory.rss) / R / 1024).toFixed(1)} KiB RSS, ${((full.memory.heapUsed - empty.memory.heapUsed) / R / 1024).toFixed(1)} KiB heap per live run`,
    );
    console.log(`survivor after the takeover: ${mib(after.memory.rss)} RSS, ${after.active} runs active`);
    // A join that moved the partition had the joiner restore it (the killed process then took it back).
    const handoff = joinRestores.find((r) => r.runs > 0);
    if (handoff)
      console.log(`(the join moved the partition: ${handoff.runs} runs restored in ${secs(handoff.restoredAt - handoff.assignedAt)})`);
    console.log(
      `kill -> restore begins:      ${secs(takeover.assignedAt - killedAt)} (the group's session timeout, a rebalance, fencing the old owner)`,
    );
    console.log(
      `assigned -> runs restored:   ${secs(takeover.restoredAt - takeover.assignedAt)} (${takeover.runs} runs; reading the run-state partition ${secs(runsRead.ms)}: ${runsRead.records} records, ${mib(runsRead.bytes)}; picking the latest state of each run ${secs(takeover.latestMs)})`,
    );
    console.log(`kill -> a new run finished:  ${secs(probed - killedAt)} (the partition served again)`);
    console.log(`record sizes (value bytes, average): run.state of a parked run ${sizes.parkedState} B; dispatch ${sizes.dispatch} B`);
    console.log(`  events: ${sizes.events}`);
    console.log(`  history: ${sizes.history}`);
    console.log(
      `  run-state partition: ${sizes.runsRecords} records, ${mib(sizes.runsBytes)} (${(sizes.runsRecords / R).toFixed(2)} records per run: uncompacted)`,
    );
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await probeWorker.close().catch(() => {});
    await client.close().catch(() => {});
    const admin = createKafka({ clientId: 'bench-restore', brokers: process.env.KAFKA_BROKERS, logLevel: 'nothing' }).admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    await admin.deleteTopics({ topics }).catch(() => {});
    await admin.disconnect();
    await broker?.stop();
  }
  process.exit(0);
}

if (values.role === 'orchestrator') await orchestratorProcess();
else if (values.role === 'worker') await workerProcess();
else await main();
