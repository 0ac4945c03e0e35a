// npm run bench:durable -- [--runs R] [--tasks N] [--rounds K] [--dir PATH]
// Durable steps/s: R concurrent runs x N no-op handler tasks on the embedded runtime with the SQLite store
// (WAL, synchronous = FULL, group commit), and the same workload with the in-memory store, in the same
// process and run. Prints both and their ratio. Needs a build (npm run build).
// bench/embedded.mjs imports measureDurable to report the same figures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createEmbeddedRuntime, sequence } from 'lockstep';
import { SqliteRunStore } from 'lockstep/sqlite';
import { MemoryRunStore } from '../dist/adapters/memory/memory-run-store.js';

function noopSequence(n) {
  let b = sequence('noop');
  for (let i = 0; i < n; i++) b = b.then(`t${i}`, async () => undefined);
  return b.build();
}

/** One round: R runs started together, each N tasks; returns steps per second. */
async function round(store, runs, tasks) {
  const rt = await createEmbeddedRuntime({ store });
  rt.register(noopSequence(tasks));
  await rt.run({ sequence: 'noop' }); // warm-up
  const t0 = performance.now();
  const finals = await Promise.all(Array.from({ length: runs }, () => rt.run({ sequence: 'noop' })));
  const ms = performance.now() - t0;
  await rt.close();
  if (finals.some((f) => f.outcome !== 'succeeded')) throw new Error('a benchmark run did not succeed');
  return (runs * tasks) / (ms / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Measures durable (SQLite) and in-memory steps/s on the same workload, alternating the two, after one
 * untimed round of each. Returns the medians, each round, and the store's group-commit counters.
 */
export async function measureDurable({ runs = 200, tasks = 20, rounds = 5, dir } = {}) {
  const where = dir ?? mkdtempSync(join(tmpdir(), 'lockstep-bench-'));
  const durable = [];
  const memory = [];
  const totals = { commits: 0, writes: 0, entries: 0 };
  const sqliteRound = async (name) => {
    const store = SqliteRunStore.open(join(where, `bench-${process.pid}-${name}.db`));
    return { stepsPerSecond: await round(store, runs, tasks), stats: store.stats };
  };
  await round(new MemoryRunStore(), runs, tasks);
  await sqliteRound('warm-up');
  for (let i = 0; i < rounds; i++) {
    const measureMemory = async () => memory.push(await round(new MemoryRunStore(), runs, tasks));
    const measureDurableRound = async () => {
      const { stepsPerSecond, stats } = await sqliteRound(i);
      durable.push(stepsPerSecond);
      for (const k of Object.keys(totals)) totals[k] += stats[k];
    };
    // Alternate the order, so neither store always runs on a warmer (or more tired) process.
    for (const measure of i % 2 === 0 ? [measureMemory, measureDurableRound] : [measureDurableRound, measureMemory]) await measure();
  }
  if (!dir) rmSync(where, { recursive: true, force: true });
  const d = median(durable);
  const m = median(memory);
  return { runs, tasks, rounds, durable: d, memory: m, ratio: d / m, durableRounds: durable, memoryRounds: memory, ...totals };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '200' },
      tasks: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '5' },
      dir: { type: 'string' },
    },
  });
  const r = await measureDurable({
    runs: Number(values.runs),
    tasks: Number(values.tasks),
    rounds: Number(values.rounds),
    ...(values.dir ? { dir: values.dir } : {}),
  });
  const fmt = (x) => Math.round(x).toLocaleString('en-US');
  const rows = [
    ['runs x tasks', `${r.runs} x ${r.tasks} (${r.rounds} rounds, medians)`],
    ['durable (SQLite) steps/s', fmt(r.durable)],
    ['in-memory steps/s', fmt(r.memory)],
    ['durable / in-memory', `${r.ratio.toFixed(2)} (in-memory is ${(1 / r.ratio).toFixed(1)}x faster)`],
    ['durable rounds steps/s', r.durableRounds.map(fmt).join(', ')],
    ['in-memory rounds steps/s', r.memoryRounds.map(fmt).join(', ')],
    [
      'SQLite commits (synced)',
      `${r.commits}, ${(r.writes / r.commits).toFixed(1)} writes and ${(r.entries / r.commits).toFixed(1)} entries per commit`,
    ],
    ['target >= 5,000 durable steps/s', r.durable >= 5000 ? 'met' : 'NOT met'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`lockstep bench:durable (node ${process.version}, ${new Date().toISOString()})`);
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}
