// npm run bench:durable -- [--runs R] [--tasks N] [--rounds K] [--dir PATH]
// Durable steps/s: R concurrent runs x N no-op handler tasks on the embedded runtime with the SQLite store
// (WAL, synchronous = FULL, group commit), and the same workload with the in-memory store, in the same
// process and run. Prints both and their ratio. Needs a build (npm run build).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MemoryRunStore } from '../dist/adapters/memory/memory-run-store.js';
import { SqliteRunStore } from '../dist/adapters/sqlite/sqlite-run-store.js';
import { sequence } from '../dist/core/sequence/builder.js';
import { createEmbeddedRuntime } from '../dist/embedded/embedded-runtime.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    tasks: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
    dir: { type: 'string' },
  },
});
const R = Number(values.runs);
const N = Number(values.tasks);
const ROUNDS = Number(values.rounds);

function noopSequence(n) {
  let b = sequence('noop');
  for (let i = 0; i < n; i++) b = b.then(`t${i}`, async () => undefined);
  return b.build();
}

/** One round: R runs started together, each N tasks; returns steps per second. */
async function round(store) {
  const rt = await createEmbeddedRuntime({ store });
  rt.register(noopSequence(N));
  await rt.run({ sequence: 'noop' }); // warm-up
  const t0 = performance.now();
  const finals = await Promise.all(Array.from({ length: R }, () => rt.run({ sequence: 'noop' })));
  const ms = performance.now() - t0;
  await rt.close();
  if (finals.some((f) => f.outcome !== 'succeeded')) throw new Error('a benchmark run did not succeed');
  return (R * N) / (ms / 1000);
}

const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'lockstep-bench-'));
const durable = [];
const memory = [];
let commits = 0;
let writes = 0;
let entries = 0;
const sqliteRound = async (name) => {
  const store = SqliteRunStore.open(join(dir, `bench-${process.pid}-${name}.db`));
  const stepsPerSecond = await round(store);
  return { stepsPerSecond, stats: store.stats };
};
// Warm-up: one untimed round of each, so the JIT has settled before anything is measured.
await round(new MemoryRunStore());
await sqliteRound('warm-up');
for (let i = 0; i < ROUNDS; i++) {
  // Alternate the order, so neither store always runs on a warmer (or more tired) process.
  const measureMemory = async () => memory.push(await round(new MemoryRunStore()));
  const measureDurable = async () => {
    const { stepsPerSecond, stats } = await sqliteRound(i);
    durable.push(stepsPerSecond);
    commits += stats.commits;
    writes += stats.writes;
    entries += stats.entries;
  };
  if (i % 2 === 0) {
    await measureMemory();
    await measureDurable();
  } else {
    await measureDurable();
    await measureMemory();
  }
}
if (!values.dir) rmSync(dir, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString('en-US');
const d = median(durable);
const m = median(memory);
const rows = [
  ['runs x tasks', `${R} x ${N} (${ROUNDS} rounds, medians)`],
  ['durable (SQLite) steps/s', fmt(d)],
  ['in-memory steps/s', fmt(m)],
  ['durable / in-memory', `${(d / m).toFixed(2)} (in-memory is ${(m / d).toFixed(1)}x faster)`],
  ['durable rounds steps/s', durable.map(fmt).join(', ')],
  ['in-memory rounds steps/s', memory.map(fmt).join(', ')],
  ['SQLite commits (synced)', `${commits}, ${(writes / commits).toFixed(1)} writes and ${(entries / commits).toFixed(1)} entries per commit`],
  ['target >= 5,000 durable steps/s', d >= 5000 ? 'met' : 'NOT met'],
];
const width = Math.max(...rows.map(([k]) => k.length));
console.log(`lockstep bench:durable (node ${process.version}, ${new Date().toISOString()})`);
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
