// npm run bench:embedded -- [--runs R] [--tasks N]
// Measures lockstep's embedded mode against a plain `for ... await` loop over the same no-op functions,
// in the same process and run, and prints the ratio. Needs a build (npm run build).
import { parseArgs } from 'node:util';
import { createEmbeddedRuntime, sequence } from 'lockstep';
import { MemoryRunStore } from '../dist/adapters/memory/memory-run-store.js';
import { measureDurable } from './durable.mjs';
import { percentile } from './percentile.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    tasks: { type: 'string', default: '50' },
    'latency-runs': { type: 'string', default: '200' },
    'idle-runs': { type: 'string', default: '2000' },
  },
});
const R = Number(values.runs);
const N = Number(values.tasks);

const us = (ms) => (ms * 1000).toFixed(1);
const gc = () => globalThis.gc?.();

function noopSequence(name, n, onTask) {
  let b = sequence(name);
  for (let i = 0; i < n; i++) b = b.then(`t${i}`, onTask);
  return b.build();
}

// Throughput: R concurrent runs x N tasks.
async function lockstepThroughput(store) {
  const rt = await createEmbeddedRuntime({ store });
  rt.register(noopSequence('noop', N, async () => undefined));
  await rt.run({ sequence: 'noop' }); // warm-up
  const t0 = performance.now();
  await Promise.all(Array.from({ length: R }, () => rt.run({ sequence: 'noop' })));
  const ms = performance.now() - t0;
  await rt.close();
  return (R * N) / (ms / 1000);
}

async function loopThroughput() {
  const fns = Array.from({ length: N }, () => async () => undefined);
  const runOne = async () => {
    for (const fn of fns) await fn({});
  };
  await runOne();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: R }, runOne));
  return (R * N) / ((performance.now() - t0) / 1000);
}

// Overhead per step: the gap between one task returning and the next task starting, one run at a time.
async function lockstepGaps() {
  const gaps = [];
  let lastEnd = 0;
  const rt = await createEmbeddedRuntime({ store: new MemoryRunStore() });
  rt.register(
    noopSequence('gaps', N, async (ctx) => {
      const now = performance.now();
      if (ctx.taskId !== 't0') gaps.push(now - lastEnd);
      lastEnd = performance.now();
    }),
  );
  for (let i = 0; i < 20; i++) await rt.run({ sequence: 'gaps' }); // warm-up: let the JIT settle
  gaps.length = 0;
  for (let i = 0; i < Number(values['latency-runs']); i++) await rt.run({ sequence: 'gaps' });
  await rt.close();
  return gaps.sort((a, b) => a - b);
}

async function loopGaps() {
  const gaps = [];
  let lastEnd = 0;
  const fns = Array.from({ length: N }, (_, i) => async () => {
    const now = performance.now();
    if (i > 0) gaps.push(now - lastEnd);
    lastEnd = performance.now();
  });
  for (let r = 0; r < 5 + Number(values['latency-runs']); r++) {
    if (r === 5) gaps.length = 0;
    for (const fn of fns) await fn({});
  }
  return gaps.sort((a, b) => a - b);
}

// Memory per idle run: runs parked in a task that has not finished yet.
async function idleRunMemory() {
  const K = Number(values['idle-runs']);
  const release = [];
  const rt = await createEmbeddedRuntime({ store: new MemoryRunStore() });
  rt.register(noopSequence('idle', 5, () => new Promise((resolve) => release.push(resolve))));
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const ids = [];
  for (let i = 0; i < K; i++) ids.push(await rt.start({ sequence: 'idle' }));
  while (release.length < K) await new Promise((r) => setImmediate(r));
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  for (const id of ids) await rt.orchestrator.cancel(id);
  for (const resolve of release) resolve();
  await Promise.all(ids.map((id) => rt.orchestrator.waitFor(id)));
  await rt.close();
  return (after - before) / K;
}

const loopTp = await loopThroughput();
const memTp = await lockstepThroughput(new MemoryRunStore());
const lg = await lockstepGaps();
const pg = await loopGaps();
const perRun = await idleRunMemory();
const durable = await measureDurable({ runs: 200, tasks: 20, rounds: 3 });

const rows = [
  ['runs x tasks', `${R} x ${N}`],
  ['plain loop steps/s', Math.round(loopTp).toLocaleString('en-US')],
  ['lockstep in-memory steps/s', Math.round(memTp).toLocaleString('en-US')],
  ['throughput ratio (loop / lockstep)', (loopTp / memTp).toFixed(1)],
  ['lockstep overhead per step p50 (us)', us(percentile(lg, 50))],
  ['lockstep overhead per step p99 (us)', us(percentile(lg, 99))],
  ['plain loop gap per step p50 (us)', us(percentile(pg, 50))],
  ['plain loop gap per step p99 (us)', us(percentile(pg, 99))],
  ['overhead ratio p50 (lockstep / loop)', (percentile(lg, 50) / Math.max(percentile(pg, 50), 1e-6)).toFixed(0)],
  ['memory per idle run (KiB)', (perRun / 1024).toFixed(1)],
  ['durable (SQLite) steps/s, 200 x 20', Math.round(durable.durable).toLocaleString('en-US')],
  ['in-memory steps/s, same workload', Math.round(durable.memory).toLocaleString('en-US')],
  ['durable / in-memory', durable.ratio.toFixed(2)],
];
const width = Math.max(...rows.map(([k]) => k.length));
console.log(`lockstep bench:embedded (node ${process.version}, ${new Date().toISOString()})`);
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
