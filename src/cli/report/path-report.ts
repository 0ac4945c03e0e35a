import { formatRatio } from '../../core/paths/coverage.js';
import type { PathRun } from '../../testing/path-runner.js';
import type { SequenceTestReport } from '../../testing/test-sequence.js';
import { formatWaitCases } from '../../testing/wait-cases.js';

/** Failing paths printed in full; the rest are counted. */
const SHOWN_FAILURES = 5;

const shellQuote = (s: string) => (/^[\w./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command that replays one path of a file. */
export function replayCommand(file: string, pathId: string): string {
  return `lockstep test ${shellQuote(file)} --path ${pathId}`;
}

const events = (run: PathRun) => run.path.steps.map((s) => s.label).join(' > ');
const result = (run: PathRun) => (run.passed ? 'ok' : `FAIL ${[...new Set(run.violations.map((v) => v.invariant))].join(',')}`);

function plural(n: number | bigint, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 || n === 1n ? one : many}`;
}

/** The header line: which sequence, how many paths exist and how many run. */
function header(file: string, report: SequenceTestReport): string {
  const { plan, sequence } = report;
  const total = plan.graph.total;
  const which = plan.given
    ? `${plural(plan.paths.length, 'given path')} of ${total}`
    : plan.exhaustive
      ? `all ${plural(total, 'path')}`
      : `${plan.paths.length} of ${plural(total, 'path')} (seed ${plan.seed}, at most ${plan.maxPaths}, every reachable transition included)`;
  return `${sequence.name} v${sequence.version} (${file}): ${which}`;
}

/** The coverage line. */
export function coverageLine(report: SequenceTestReport): string {
  const c = report.coverage;
  const unreachable =
    c.unreachable.length > 0 ? `; ${plural(c.unreachable.length, 'definition transition')} no outcome can take, not counted` : '';
  return `coverage: states ${formatRatio(c.states)}, transitions ${formatRatio(c.transitions)}${unreachable}`;
}

/**
 * The human report of one file: a table of paths (events, expected outcome, result), the coverage line, and for
 * failures the violations with the command that replays each path.
 */
export function formatReport(file: string, report: SequenceTestReport): string[] {
  const lines = [header(file, report)];
  const rows: string[][] = report.runs.map((r) => [r.path.id, r.expected.outcome, result(r), events(r)]);
  const width = (i: number, title: string) => Math.max(title.length, ...rows.map((row) => row[i]!.length));
  const w = [width(0, 'PATH'), width(1, 'EXPECTED'), width(2, 'RESULT')];
  const row = (cells: readonly string[]) => `  ${cells.map((c, i) => (i < 3 ? c.padEnd(w[i]!) : c)).join('  ')}`.trimEnd();
  lines.push(row(['PATH', 'EXPECTED', 'RESULT', 'EVENTS']));
  for (const r of rows) lines.push(row(r));
  lines.push(coverageLine(report));
  if (!report.plan.given && report.coverage.uncovered.length > 0) lines.push(`  not covered: ${report.coverage.uncovered.join('; ')}`);
  if (report.waits.length > 0) lines.push('waits:', ...report.waits.map((w) => `  ${formatWaitCases(w)}`));
  const failed = [...report.failed].sort((a, b) => a.path.steps.length - b.path.steps.length || a.path.id.localeCompare(b.path.id));
  for (const run of failed.slice(0, SHOWN_FAILURES)) {
    lines.push(`FAIL path ${run.path.id}: ${events(run)}`);
    const ended = run.outcome ? `ended ${run.outcome}` : run.abandoned ? 'given up when the runtime left the path' : 'never ended';
    lines.push(`  expected ${run.expected.outcome} (${run.expected.because}); ${ended}`);
    for (const v of run.violations) lines.push(`  ${v.invariant}: ${v.message}`);
    lines.push(`  replay: ${replayCommand(file, run.path.id)}`);
  }
  if (failed.length > SHOWN_FAILURES) lines.push(`... and ${plural(failed.length - SHOWN_FAILURES, 'more failing path')}`);
  const seconds = (report.durationMs / 1000).toFixed(1);
  lines.push(`${plural(report.runs.length, 'path')}: ${report.runs.length - failed.length} passed, ${failed.length} failed (${seconds}s)`);
  return lines;
}

/** The JSON report of one file. */
export function reportJson(file: string, report: SequenceTestReport): Record<string, unknown> {
  const { plan } = report;
  return {
    file,
    sequence: report.sequence.name,
    version: report.sequence.version,
    paths: {
      total: plan.graph.total.toString(),
      run: report.runs.length,
      exhaustive: plan.exhaustive,
      seed: plan.seed,
      maxPaths: plan.maxPaths,
    },
    coverage: report.coverage,
    waits: report.waits,
    passed: report.runs.length - report.failed.length,
    failed: report.failed.length,
    durationMs: Math.round(report.durationMs),
    runs: report.runs.map((r) => ({
      id: r.path.id,
      events: r.path.steps.map((s) => s.label),
      expected: r.expected.outcome,
      because: r.expected.because,
      outcome: r.outcome ?? null,
      passed: r.passed,
      violations: r.violations,
      ...(r.passed ? {} : { replay: replayCommand(file, r.path.id) }),
    })),
  };
}
