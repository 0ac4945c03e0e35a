// npm run bench:client -- [--runs R] [--tasks N] [--partitions P] [--finished F]
// The public client's waits over a real broker (KAFKA_BROKERS, else one started for the bench). This process runs
// an orchestrator and a worker; a child process runs only the client, so its memory is the client's alone:
//  0. the engine's figure first and last: R runs started and awaited inside the orchestrator's process;
//  1. it starts R runs of N no-op tasks and awaits them all with client.waitAll (one subscription), and prints
//     steps/s and the client's peak RSS against its RSS before the first start;
//  2. a fresh client waits, one after the other, for F runs that ended before it existed (each found by reading
//     its partition again) and then for the same F again (answered from what it read), against the floor of the
//     same run: one read of that partition through a throw-away consumer group, as every wait cost before.
// Needs a build (npm run build).
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sequence } from 'lockstep';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from 'lockstep/kafka';
import { KafkaTransport, partitionOf } from '../dist/adapters/kafka/index.js';
import { ProgramRegistry } from '../dist/core/run/registry.js';
import { brokerForBench } from '../scripts/kafka/broker.mjs';
import { percentile } from './percentile.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '500' },
    tasks: { type: 'string', default: '5' },
    partitions: { type: 'string', default: '8' },
    finished: { type: 'string', default: '100' },
    child: { type: 'string' },
  },
});
const R = Number(values.runs);
const N = Number(values.tasks);
const F = Number(values.finished);
const log = (line) => process.stderr.write(`[bench:client] ${line}\n`);
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

if (values.child) {
  // ---- the client's process ---------------------------------------------------------------------------------
  const { brokers, prefix } = JSON.parse(values.child);
  const quiet = { brokers, prefix, logLevel: 'nothing' };
  const rssBefore = process.memoryUsage().rss;
  const client = createLockstepClient(quiet);
  const t0 = performance.now();
  const runIds = await Promise.all(Array.from({ length: R }, () => client.start('noop')));
  const finals = await client.waitAll(runIds, { timeoutMs: 600_000 });
  const seconds = (performance.now() - t0) / 1000;
  const failed = finals.filter((f) => f.status !== 'succeeded').length;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  await client.close();

  const late = createLockstepClient(quiet);
  const transport = new KafkaTransport({ ...quiet, clientId: 'bench-floor' });
  const runsTopic = `${prefix}.runs`;
  const parts = (await transport.partitionCounts([runsTopic])).get(runsTopic);
  const first = [];
  const again = [];
  const floor = [];
  for (const runId of runIds.slice(0, F)) {
    let t = performance.now();
    await transport.readPartitions(runsTopic, [partitionOf(runId, parts)]);
    floor.push(performance.now() - t);
    t = performance.now();
    await late.wait(runId);
    first.push(performance.now() - t);
    t = performance.now();
    await late.wait(runId);
    again.push(performance.now() - t);
  }
  await late.close();
  await transport.close();
  process.send({ seconds, failed, rssBefore, peakRss, first, again, floor });
  process.exit(0);
}

// ---- the orchestrator and the worker ------------------------------------------------------------------------
const broker = await brokerForBench(log);
const brokers = process.env.KAFKA_BROKERS;
const prefix = `bench-client-${randomUUID().slice(0, 8)}`;
const quiet = { brokers, prefix, logLevel: 'nothing' };
let b = sequence('noop');
for (let i = 0; i < N; i++) b = b.then(`t${i}`, { queue: 'bench' });
const noop = b.build();
const registry = new ProgramRegistry();
registry.register(noop, { definition: 'bench', hash: 'bench' });
const orchestrator = await startKafkaOrchestrator({ ...quiet, registry, partitions: Number(values.partitions) });
const handlers = Object.fromEntries(Array.from({ length: N }, (_, i) => [`t${i}`, () => null]));
const worker = await createWorker({ ...quiet, queue: 'bench', handlers });

// Warm-up: a few runs through the same path, so the first figures are not the JIT's.
const warm = createLockstepClient(quiet);
await warm.waitAll(await Promise.all(Array.from({ length: 20 }, () => warm.start('noop'))), { timeoutMs: 120_000 });
await warm.close();

/** The engine's own figure in the same run: R runs started and awaited inside the orchestrator's process. */
const engineRound = async () => {
  const t = performance.now();
  await Promise.all(
    Array.from({ length: R }, async () =>
      orchestrator.orchestrator.waitFor(await orchestrator.orchestrator.startRun({ sequence: 'noop' })),
    ),
  );
  return (R * N) / ((performance.now() - t) / 1000);
};
log(`${R} runs x ${N} tasks, awaited inside the orchestrator (the engine's figure)`);
const engineBefore = await engineRound();
log(`${R} runs x ${N} tasks, awaited by a client in its own process`);
const child = fork(fileURLToPath(import.meta.url), [
  '--child',
  JSON.stringify({ brokers, prefix }),
  '--runs',
  String(R),
  '--tasks',
  String(N),
  '--finished',
  String(F),
]);
const result = await new Promise((resolve, reject) => {
  child.once('message', resolve);
  child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`the client's process exited with ${code}`))));
});
log(`${R} runs x ${N} tasks, awaited inside the orchestrator again`);
const engineAfter = await engineRound();
await worker.close({ graceMs: 100 });
await orchestrator.close();
await broker?.stop();

const { seconds, failed, rssBefore, peakRss, first, again, floor } = result;
const rows = [
  ['runs awaited with waitAll', `${R} (${failed} not succeeded)`],
  ['steps/s through the client', ((R * N) / seconds).toFixed(0)],
  ['steps/s inside the orchestrator (before, after)', `${engineBefore.toFixed(0)}, ${engineAfter.toFixed(0)}`],
  ['client / orchestrator', `${((R * N) / seconds / ((engineBefore + engineAfter) / 2)).toFixed(2)}x`],
  ['client RSS before / peak', `${mib(rssBefore)} / ${mib(peakRss)}`],
  [
    `wait, run ended before the client (p50 of ${F})`,
    `${percentile(first, 50).toFixed(2)} ms (p99 ${percentile(first, 99).toFixed(2)} ms)`,
  ],
  [`wait again, same run (p50 of ${F})`, `${percentile(again, 50).toFixed(3)} ms`],
  ['floor: one throw-away group read (p50)', `${percentile(floor, 50).toFixed(2)} ms`],
  ['wait / floor', `${(percentile(first, 50) / percentile(floor, 50)).toFixed(2)}x`],
];
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
process.exit(failed === 0 ? 0 : 1);
