// npm run bench:console -- [--tasks 50] [--runs 1000] [--rounds 30]
// How fast `lockstep serve` answers what its page asks for, with a large store: a sequence of --tasks tasks (a
// compensation on every fifth, one finally task) and --runs finished runs of it in a SQLite store (one in ten
// fails at a random task and compensates). The runs are real: the embedded runtime (dist/) drives them, their
// queue tasks answered by a handler. Then the built CLI serves the store (`lockstep serve --store`), and each
// endpoint the page calls is timed through HTTP from this process, --rounds times, cold answer first.
// The machine view's SVG is not timed: at 150 states this sequence is over the SVG layout's 120-state limit, and
// the page shows the limit's message instead.
// Baseline, in the same run: `GET /api/health`, which reads nothing. Each row gives p50, p95, max and the ratio of
// its p50 to the baseline's. The bar: every answer under 200 ms.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createEmbeddedRuntime, loadSequenceFile, TaskFailure } from '../dist/index.js';
import { SqliteRunStore } from '../dist/sqlite.js';
import { percentile } from './percentile.mjs';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '50' },
    runs: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '30' },
  },
});
const TASKS = Number(values.tasks);
const RUNS = Number(values.runs);
const ROUNDS = Number(values.rounds);
const BAR_MS = 200;
const bin = fileURLToPath(new URL('../bin/lockstep.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lockstep-bench-console-'));
const machines = join(dir, 'machines');
const storePath = join(dir, 'runs.db');

function writeSequence() {
  const lines = ['name: wide', 'version: 1', 'tasks:'];
  for (let i = 0; i < TASKS; i++) {
    lines.push(`  - id: step-${String(i).padStart(2, '0')}`, '    queue: bench');
    if (i % 5 === 0) lines.push('    compensate:', '      queue: bench');
  }
  lines.push('finally:', '  - id: cleanup', '    queue: bench', '');
  mkdirSync(machines, { recursive: true });
  const file = join(machines, 'wide.yaml');
  writeFileSync(file, lines.join('\n'));
  return file;
}

async function fillStore(file) {
  const loaded = await loadSequenceFile(file);
  const store = SqliteRunStore.open(storePath);
  // Run i fails at task (i * 7) % TASKS when i % 10 === 0; every other run succeeds.
  const failAt = new Map();
  const runtime = await createEmbeddedRuntime({
    store,
    queueHandlers: {
      bench: (ctx) => {
        const at = failAt.get(ctx.runId);
        if (at !== undefined && ctx.taskId === at) throw new TaskFailure('step failed on purpose', { retriable: false });
        return { task: ctx.taskId, attempt: ctx.attempt };
      },
    },
  });
  runtime.register(loaded.sequence, { definition: loaded.text, hash: loaded.hash, source: file });
  const started = Date.now();
  const ids = [];
  const batch = 50;
  for (let i = 0; i < RUNS; i += batch) {
    const finals = [];
    for (let j = i; j < Math.min(RUNS, i + batch); j++) {
      const runId = `run-${String(j).padStart(5, '0')}-${Math.random().toString(36).slice(2, 8)}`;
      if (j % 10 === 0) failAt.set(runId, `step-${String((j * 7) % TASKS).padStart(2, '0')}`);
      ids.push(runId);
      finals.push(runtime.run({ sequence: 'wide', runId, input: { n: j } }));
    }
    await Promise.all(finals);
  }
  await runtime.close(); // closes the store too
  return { ids, seconds: (Date.now() - started) / 1000 };
}

function serve() {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--store', storePath, '--sequences', machines], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve({ child, base: m[1] });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`lockstep serve exited with ${code}:\n${out}`)));
  });
}

async function time(base, path) {
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${base}${path}`);
  const body = await res.arrayBuffer();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${Buffer.from(body).toString().slice(0, 300)}`);
  return { ms, bytes: body.byteLength };
}

async function measure(base, path) {
  const cold = await time(base, path);
  const samples = [];
  let bytes = cold.bytes;
  for (let i = 0; i < ROUNDS; i++) {
    const s = await time(base, path);
    samples.push(s.ms);
    bytes = s.bytes;
  }
  samples.sort((a, b) => a - b);
  return { path, cold: cold.ms, p50: percentile(samples, 50), p95: percentile(samples, 95), max: Math.max(cold.ms, samples.at(-1)), bytes };
}

const file = writeSequence();
process.stderr.write(`[bench:console] driving ${RUNS} runs of a ${TASKS}-task sequence into ${storePath}\n`);
const filled = await fillStore(file);
process.stderr.write(`[bench:console] ${RUNS} runs recorded in ${filled.seconds.toFixed(1)} s; starting lockstep serve\n`);
const { child, base } = await serve();
try {
  const failed = filled.ids[0];
  const ok = filled.ids[1];
  const list = await (await fetch(`${base}/api/runs?limit=50`)).json();
  const next = list.next ? `&cursor=${encodeURIComponent(list.next)}` : '';
  const paths = [
    '/api/health',
    '/api/sequences',
    '/api/runs?limit=50',
    `/api/runs?limit=50${next}`,
    '/api/runs?limit=50&status=failed',
    '/api/runs?limit=50&sequence=wide',
    `/api/runs?limit=50&idPrefix=${encodeURIComponent(ok.slice(0, 7))}`,
    `/api/runs/${ok}`,
    `/api/runs/${failed}`,
    `/api/runs/${ok}/definition`,
    `/api/runs/${ok}/logs`,
    `/api/runs/${failed}/rerun-plan`,
    `/api/runs/${ok}/graph.svg?view=tasks`,
    '/api/sequences/wide/graph.svg?view=tasks',
  ];
  const rows = [];
  for (const path of paths) rows.push(await measure(base, path));
  const baseline = rows[0].p50;
  const fmt = (n) => n.toFixed(1).padStart(7);
  console.log(`bench:console: ${TASKS}-task sequence, ${RUNS} runs in the store, ${ROUNDS} rounds per endpoint after a cold one`);
  console.log(
    `${'endpoint'.padEnd(56)} ${'cold ms'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p95 ms'.padStart(7)} ${'max ms'.padStart(7)} ${'x health'.padStart(8)} ${'bytes'.padStart(8)}`,
  );
  for (const r of rows) {
    const shown = r.path.replace(ok, '<run>').replace(failed, '<failed run>');
    console.log(
      `${shown.slice(0, 56).padEnd(56)} ${fmt(r.cold)} ${fmt(r.p50)} ${fmt(r.p95)} ${fmt(r.max)} ${(r.p50 / baseline).toFixed(1).padStart(8)} ${String(r.bytes).padStart(8)}`,
    );
  }
  const worst = rows.reduce((a, b) => (b.max > a.max ? b : a));
  const under = rows.every((r) => r.max < BAR_MS);
  console.log(
    `slowest answer: ${worst.max.toFixed(1)} ms (${worst.path.replace(ok, '<run>').replace(failed, '<failed run>')}); every answer under ${BAR_MS} ms: ${under ? 'yes' : 'no'}`,
  );
  process.exitCode = under ? 0 : 1;
} finally {
  child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
