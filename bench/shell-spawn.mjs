// Cost of one shell attempt, with and without its lifeline: runs `:` N times each (LOCKSTEP_BENCH_N, default 300)
// through the shell task runner, alternating the two, one attempt at a time, and prints the median and mean wall
// time per attempt of each and their ratio. `npm run build` first.
import { runShellTask } from '../dist/runtime/shell-task.js';

const n = Number(process.env.LOCKSTEP_BENCH_N ?? 300);
const signal = new AbortController().signal;
const attempt = (lifeline) => runShellTask({ run: ':', env: {}, signal, lifeline });
for (let i = 0; i < 20; i++) await attempt(i % 2 === 0); // warm-up
const times = { without: [], with: [] };
for (let i = 0; i < 2 * n; i++) {
  const lifeline = i % 2 === 1;
  const t = process.hrtime.bigint();
  await attempt(lifeline);
  times[lifeline ? 'with' : 'without'].push(Number(process.hrtime.bigint() - t) / 1e6);
}
const stats = (ms) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { medianMs: +sorted[sorted.length >> 1].toFixed(2), meanMs: +(ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(2) };
};
const without = stats(times.without);
const withLifeline = stats(times.with);
console.log(
  JSON.stringify({ attempts: n, without, with: withLifeline, medianRatio: +(withLifeline.medianMs / without.medianMs).toFixed(2) }),
);
