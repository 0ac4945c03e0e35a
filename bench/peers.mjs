// npm run bench:peers -- [--runs R] [--tasks N] [--rounds K]
// Workload W: R concurrent runs of N no-op tasks in strict sequence, interleaved rounds after a warm-up.
// Partial: only lockstep embedded in memory so far (SQLite, Kafka, BullMQ and Temporal are not yet wired).
// A step is one task's completion -> the next task's start in the same run. Needs a build (npm run build).
import { parseArgs } from 'node:util';
import { createEmbeddedRuntime, sequence } from 'lockstep';
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

async function memoryRound() {
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
  const rt = await createEmbeddedRuntime({ store: new MemoryRunStore() });
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

await memoryRound(); // warm-up
const all = { gaps: [], runMs: [], rates: [] };
for (let k = 0; k < K; k++) {
  const r = await memoryRound();
  all.gaps.push(...r.gaps);
  all.runMs.push(...r.runMs);
  all.rates.push(r.stepsPerS);
}
all.gaps.sort((a, b) => a - b);
all.runMs.sort((a, b) => a - b);
const rate = all.rates.reduce((a, b) => a + b, 0) / all.rates.length;
const rssMb = (process.resourceUsage().maxRSS / 1024).toFixed(0);
console.log(`W: ${R} runs x ${N} tasks, ${K} rounds (+1 warm-up)`);
console.log('system            steps/s  step p50 ms  step p99 ms  run p50 ms  peak RSS MB');
console.log(
  `lockstep-memory  ${rate.toFixed(0).padStart(8)}  ${pct(all.gaps, 50).toFixed(3).padStart(11)}  ${pct(all.gaps, 99).toFixed(3).padStart(11)}  ${pct(all.runMs, 50).toFixed(1).padStart(10)}  ${rssMb.padStart(11)}`,
);
