// npm run bench:peers -- [--runs R] [--tasks N] [--rounds K]
// Workload W: R concurrent runs of N no-op tasks in strict sequence, interleaved rounds after a warm-up.
// Partial: lockstep embedded in memory and with SQLite (temp file); Kafka, BullMQ, Temporal not yet wired.
// A step is one task's completion -> the next task's start in the same run. Needs a build (npm run build).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEmbeddedRuntime, sequence } from 'lockstep';
import { SqliteRunStore } from 'lockstep/sqlite';
import { MemoryRunStore } from '../dist/adapters/memory/memory-run-store.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '500' },
    tasks: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
  },
});
const R = Number(values.runs);
const N = Number(values.tasks);
const K = Number(values.rounds);
const pct = (s, p) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];

const dir = mkdtempSync(join(tmpdir(), 'lockstep-peers-'));
let dbN = 0;
const systems = {
  'lockstep-memory': () => new MemoryRunStore(),
  'lockstep-sqlite': () => SqliteRunStore.open(join(dir, `w-${dbN++}.db`)),
};

async function round(makeStore) {
  const ends = new Map();
  const gaps = [];
  let b = sequence('w');
  for (let i = 0; i < N; i++) {
    b = b.then(`t${i}`, async (ctx) => {
      const now = performance.now();
      const prev = ends.get(ctx.runId);
      if (prev !== undefined) gaps.push(now - prev);
      ends.set(ctx.runId, performance.now());
    });
  }
  const rt = await createEmbeddedRuntime({ store: makeStore() });
  rt.register(b.build());
  const runMs = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: R }, async () => {
      const s = performance.now();
      await rt.run({ sequence: 'w' });
      runMs.push(performance.now() - s);
    }),
  );
  const ms = performance.now() - t0;
  await rt.close();
  return { stepsPerS: (R * N) / (ms / 1000), gaps, runMs };
}

const acc = {};
try {
  for (let k = 0; k <= K; k++) {
    for (const [name, make] of Object.entries(systems)) {
      const r = await round(make);
      if (k === 0) continue; // warm-up round
      acc[name] ??= { gaps: [], runMs: [], rates: [] };
      acc[name].gaps.push(...r.gaps);
      acc[name].runMs.push(...r.runMs);
      acc[name].rates.push(r.stepsPerS);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const rssMb = (process.resourceUsage().maxRSS / 1024).toFixed(0);
console.log(`W: ${R} runs x ${N} tasks, ${K} rounds (+1 warm-up), interleaved`);
console.log('system            steps/s  step p50 ms  step p99 ms  run p50 ms  peak RSS MB (this process)');
for (const [name, a] of Object.entries(acc)) {
  a.gaps.sort((x, y) => x - y);
  a.runMs.sort((x, y) => x - y);
  const rate = a.rates.reduce((x, y) => x + y, 0) / a.rates.length;
  console.log(
    `${name.padEnd(16)}${rate.toFixed(0).padStart(8)}  ${pct(a.gaps, 50).toFixed(3).padStart(11)}  ${pct(a.gaps, 99).toFixed(3).padStart(11)}  ${pct(a.runMs, 50).toFixed(1).padStart(10)}  ${rssMb.padStart(11)}`,
  );
}
