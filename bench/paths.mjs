// npm run bench:paths -- [--tasks N] [--attempts A] [--max-paths P] [--seed S]
// Times `lockstep test` on a sequence of N tasks with A attempts each (timeouts, compensations, a finally task):
// path enumeration, seeded sampling and the run of every sampled path through the embedded runtime.
// Needs a build (npm run build). Prints wall time and paths per second; the target is under a minute for 10 x 3 at 2000.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadSequenceFile } from 'lockstep';
import { testSequence } from 'lockstep/testing';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10' },
    attempts: { type: 'string', default: '3' },
    'max-paths': { type: 'string', default: '2000' },
    seed: { type: 'string', default: '1' },
  },
});
const N = Number(values.tasks);
const A = Number(values.attempts);
const maxPaths = Number(values['max-paths']);

const task = (i) =>
  [
    `  - id: step-${i}`,
    `    run: echo step ${i}`,
    '    timeout: 30s',
    `    retry: { maxAttempts: ${A}, backoff: { initial: 1s, factor: 2, max: 10s, jitter: 0.2 } }`,
    ...(i % 2 === 0 ? [`    compensate: { run: echo undo ${i} }`] : []),
  ].join('\n');
const yaml = [
  'name: bench-paths',
  'version: 1',
  'tasks:',
  ...Array.from({ length: N }, (_, i) => task(i)),
  'finally:',
  '  - id: cleanup',
  '    run: echo cleanup',
  '',
].join('\n');
const dir = mkdtempSync(join(tmpdir(), 'lockstep-bench-paths-'));
const file = join(dir, 'bench-paths.yaml');
writeFileSync(file, yaml);

try {
  const { sequence } = loadSequenceFile(file);
  const t0 = performance.now();
  const report = await testSequence(sequence, { maxPaths, seed: values.seed });
  const ms = performance.now() - t0;
  const { coverage, plan } = report;
  console.log(`sequence: ${N} tasks x ${A} attempts (timeouts, ${Math.ceil(N / 2)} compensations, 1 finally task)`);
  console.log(
    `paths: ${plan.graph.total} in all (graph: ${plan.graph.size.states} states, ${plan.graph.size.edges} edges); ran ${report.runs.length} (--max-paths ${maxPaths}, seed ${values.seed})`,
  );
  console.log(
    `coverage: states ${coverage.states.covered}/${coverage.states.total}, transitions ${coverage.transitions.covered}/${coverage.transitions.total}`,
  );
  console.log(`failed paths: ${report.failed.length}`);
  console.log(`in-process: ${(ms / 1000).toFixed(2)} s wall, ${(report.runs.length / (ms / 1000)).toFixed(0)} paths/s`);

  const bin = fileURLToPath(new URL('../bin/lockstep.js', import.meta.url));
  const c0 = performance.now();
  const cli = spawnSync(process.execPath, [bin, 'test', file, '--max-paths', String(maxPaths), '--seed', values.seed, '--json'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const cliMs = performance.now() - c0;
  const out = cli.stdout.trim() ? JSON.parse(cli.stdout) : {};
  console.log(
    `lockstep test (CLI, --json): exit ${cli.status}, ${out.paths?.run ?? '?'} paths, ${(cliMs / 1000).toFixed(2)} s wall, ${((out.paths?.run ?? 0) / (cliMs / 1000)).toFixed(0)} paths/s`,
  );
  if (cli.status !== 0 || report.failed.length > 0) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
