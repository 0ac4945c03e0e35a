// npm run bench:peers -- [--runs R] [--tasks N] [--rounds K] [--systems a,b] [--bullmq-concurrency C]
// Workload W: R concurrent runs of N no-op tasks in strict sequence, one warm-up round then K interleaved rounds
// (A B C D, A B C D, ...). Systems: lockstep embedded in memory and with SQLite (temp file), lockstep over Kafka
// through the public client (needs KAFKA_BROKERS, else skipped), BullMQ flows on a redis-server this script starts
// and stops. A step is one task's end -> the next task's start in the same run, seen from inside the tasks.
// Needs a build (npm run build).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { peakRssMib } from './peers/redis.mjs';
import { bullmqFlows, lockstepEmbedded, lockstepKafka, memoryStore, sqliteStore } from './peers/systems.mjs';
import { percentile } from './percentile.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '500' },
    tasks: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    systems: { type: 'string', default: 'memory,sqlite,kafka,bullmq' },
    'bullmq-concurrency': { type: 'string', default: '50' },
  },
});
const R = Number(values.runs);
const N = Number(values.tasks);
const K = Number(values.rounds);
const C = Number(values['bullmq-concurrency']);
const wanted = new Set(values.systems.split(','));
const say = (line) => console.log(line);

/** Per-round step recorder: a gap is a task's start minus the previous task's end in the same run. */
const newTrack = () => {
  const ends = new Map();
  const gaps = [];
  return {
    gaps,
    begin(run) {
      const prev = ends.get(run);
      if (prev !== undefined) gaps.push(performance.now() - prev);
    },
    end(run) {
      ends.set(run, performance.now());
    },
  };
};
const trackRef = { current: newTrack() };

/** The Kafka broker's peak RSS, when its process is on this machine and readable (shared broker: whole life). */
const brokerPeakMib = () => {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka')) return peakRssMib(pid);
    } catch {}
  }
  return undefined;
};

const dir = mkdtempSync(join(tmpdir(), 'lockstep-peers-'));
const systems = [];
if (wanted.has('memory')) systems.push(['lockstep-memory', lockstepEmbedded({ R, N, makeStore: memoryStore })]);
if (wanted.has('sqlite')) systems.push(['lockstep-sqlite', lockstepEmbedded({ R, N, makeStore: sqliteStore(dir) })]);
if (wanted.has('kafka')) {
  if (process.env.KAFKA_BROKERS) {
    const kafka = lockstepKafka({ R, N, brokers: process.env.KAFKA_BROKERS, track: trackRef });
    kafka.peakRssMib = brokerPeakMib;
    systems.push(['lockstep-kafka', kafka]);
  } else say('lockstep-kafka skipped: KAFKA_BROKERS is not set (e.g. KAFKA_BROKERS=127.0.0.1:19092)');
}
if (wanted.has('bullmq')) systems.push([`bullmq-c${C}`, bullmqFlows({ R, N, concurrency: C, track: trackRef })]);
// Temporal (with TEMPORAL_ADDRESS) would need @temporalio/* packages, which are not installable here.
say('temporal skipped: the Temporal TypeScript SDK (@temporalio/*) is not installed');

let cleaned = false;
const cleanup = async () => {
  if (cleaned) return;
  cleaned = true;
  for (const [, s] of systems) await s.close?.().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', () => {
  for (const [, s] of systems) s.kill?.();
});
process.on('SIGINT', () => {
  cleanup().finally(() => process.exit(130));
});

const acc = new Map();
try {
  for (const [, s] of systems) await s.setup?.();
  for (let k = 0; k <= K; k++) {
    for (const [name, s] of systems) {
      trackRef.current = newTrack();
      const t0 = performance.now();
      const { runMs } = await s.round(trackRef.current);
      const ms = performance.now() - t0;
      if (k === 0) continue; // warm-up round
      const a = acc.get(name) ?? { gaps: [], runMs: [], rates: [] };
      a.gaps.push(...trackRef.current.gaps);
      a.runMs.push(...runMs);
      a.rates.push((R * N) / (ms / 1000));
      acc.set(name, a);
    }
  }
  for (const [name, s] of systems) acc.get(name).otherRss = s.peakRssMib?.();
} finally {
  await cleanup();
}

const rows = [...acc].map(([name, a]) => {
  a.gaps.sort((x, y) => x - y);
  a.runMs.sort((x, y) => x - y);
  return { name, ...a, rate: a.rates.reduce((x, y) => x + y, 0) / a.rates.length };
});
const base = rows.find((r) => r.name.startsWith('bullmq'));
say(`W: ${R} runs x ${N} no-op tasks, ${K} rounds (+1 warm-up), interleaved; steps/s = mean of rounds`);
say('system            steps/s  x bullmq  step p50 ms  step p99 ms  run p50 ms  other process peak RSS MiB');
for (const r of rows) {
  const ratio = base ? `${(r.rate / base.rate).toFixed(2)}x` : 'n/a';
  const other =
    r.otherRss === undefined
      ? r.name.includes('kafka')
        ? 'broker n/a'
        : '-'
      : `${r.otherRss.toFixed(0)} (${r.name.includes('kafka') ? 'broker' : 'redis'})`;
  say(
    `${r.name.padEnd(16)}${r.rate.toFixed(0).padStart(8)}  ${ratio.padStart(8)}  ${percentile(r.gaps, 50).toFixed(3).padStart(11)}  ${percentile(r.gaps, 99).toFixed(3).padStart(11)}  ${percentile(r.runMs, 50).toFixed(1).padStart(10)}  ${other}`,
  );
}
say(`peak RSS of this process (all in-process systems together): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
process.exit(0);
