// npm run bench:size -- [--tasks 1000,10000] [--max-paths 500] [--svg-tasks 1000]
// Time and peak memory of the tools on large sequences, through the real CLI (bin/lockstep.js, which runs
// dist/: npm run build first): `lockstep test` at 1,000 and 10,000 tasks with --max-paths 500 and
// `graph -f svg` at 1,000 tasks, with baselines measured in the same run (the same commands at 10 tasks,
// `lockstep validate` of the same files) and the ratio of each figure to its baseline.
// Peak memory is the process's peak resident set (VmHWM), polled from /proc/<pid>/status; CPU time (user +
// system, polled from /proc/<pid>/stat until the last sample before exit) tells a busy machine from a slow tool.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000,10000' },
    'max-paths': { type: 'string', default: '500' },
    'svg-tasks': { type: 'string', default: '1000' },
  },
});
const sizes = values.tasks.split(',').map(Number);
const maxPaths = values['max-paths'];
const svgTasks = Number(values['svg-tasks']);
const bin = fileURLToPath(new URL('../bin/lockstep.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lockstep-bench-size-'));

/** A sequence of `n` shell tasks and one finally task. */
function sequenceFile(n) {
  const file = join(dir, `scale-${n}.yaml`);
  const tasks = Array.from({ length: n }, (_, i) => `  - id: step-${i}\n    run: echo step ${i}`);
  writeFileSync(
    file,
    ['name: scale', 'version: 1', 'tasks:', ...tasks, 'finally:', '  - id: cleanup', '    run: echo cleanup', ''].join('\n'),
  );
  return file;
}

const peakKb = (pid) => {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
};

/** CPU seconds (user + system) a process used so far, from /proc/<pid>/stat (clock ticks of 10 ms). */
const cpuSeconds = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
};

/** Runs the CLI once: exit code, wall time, CPU time, peak RSS and the last line it printed. */
function measure(args) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let peak = 0;
    let cpu = 0;
    let out = '';
    const poll = setInterval(() => {
      peak = Math.max(peak, peakKb(child.pid));
      cpu = cpuSeconds(child.pid) ?? cpu;
    }, 20);
    child.stdout.on('data', (d) => (out = (out + d).slice(-4000)));
    child.stderr.on('data', (d) => (out = (out + d).slice(-4000)));
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      const last = out.trim().split('\n').at(-1) ?? '';
      resolve({ code: code ?? signal, ms: performance.now() - t0, cpu, peakMb: peak / 1024, last });
    });
  });
}

const rows = [];
const run = async (label, args, baseline) => {
  const r = await measure(args);
  rows.push({ label, command: `lockstep ${args.map((a) => (a.startsWith(dir) ? a.slice(dir.length + 1) : a)).join(' ')}`, ...r, baseline });
  const b = baseline && rows.find((x) => x.label === baseline);
  const ratio = b ? `  (x${(r.ms / b.ms).toFixed(1)} time, x${(r.peakMb / b.peakMb).toFixed(1)} memory of ${baseline})` : '';
  const line = `exit ${String(r.code).padEnd(3)} ${(r.ms / 1000).toFixed(1).padStart(7)} s wall ${r.cpu.toFixed(1).padStart(6)} s cpu ${r.peakMb.toFixed(0).padStart(6)} MB peak`;
  console.log(`${label.padEnd(26)} ${line}${ratio}`);
  console.log(`${''.padEnd(26)} ${rows.at(-1).command}`);
  console.log(`${''.padEnd(26)} -> ${r.last.slice(0, 200)}`);
};

try {
  const small = sequenceFile(10);
  await run('validate 10 (baseline)', ['validate', small]);
  await run('test 10 (baseline)', ['test', small, '--max-paths', maxPaths], 'validate 10 (baseline)');
  for (const n of sizes) {
    const file = sequenceFile(n);
    await run(`validate ${n}`, ['validate', file], 'validate 10 (baseline)');
    await run(`test ${n}`, ['test', file, '--max-paths', maxPaths], `validate ${n}`);
  }
  // The machine view: the one whose layout grows costly (the task view is flat).
  await run('graph -f svg 10 (baseline)', ['graph', small, '-f', 'svg', '--view', 'machine']);
  await run(`graph -f svg ${svgTasks}`, ['graph', sequenceFile(svgTasks), '-f', 'svg', '--view', 'machine'], 'graph -f svg 10 (baseline)');
  console.log(`\nload average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
