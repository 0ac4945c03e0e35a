import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../support/cli.js';
import { writeScaleSequence } from '../support/scale-sequence.js';

// The 1,000- and 10,000-task figures (time, peak memory) come from `npm run bench:size`; these tests keep to
// sizes that run in seconds (60 tasks: 482 paths, 200 of them sampled), and to the limits' messages.
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lockstep-scale-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Report {
  failed: number;
  passed: number;
  paths: { total: string; run: number; exhaustive: boolean };
  coverage: { states: { covered: number; total: number }; transitions: { covered: number; total: number } };
  runs: Array<{ id: string; passed: boolean; outcome: string; expected: string; events: string[] }>;
}

describe('lockstep at scale', () => {
  it('tests a long sequence with --max-paths 200: every path passes, every transition covered, and a replayed path agrees', async () => {
    const file = writeScaleSequence(dir, 60);
    const r = await lockstep(['test', file, '--max-paths', '200', '--json'], { timeoutMs: 170_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = jsonLines(r.stdout)[0] as unknown as Report;
    expect(report.paths.exhaustive).toBe(false);
    expect(report.paths.run).toBeGreaterThanOrEqual(120); // every task's failure and cancellation is covered
    expect(report.failed).toBe(0);
    expect(report.coverage.transitions.covered).toBe(report.coverage.transitions.total);
    expect(report.coverage.states.covered).toBe(report.coverage.states.total);
    // Paths share their prefix's run; a path run alone ends the same way.
    const longest = [...report.runs].sort((a, b) => b.events.length - a.events.length)[0]!;
    const alone = await lockstep(['test', file, '--path', longest.id, '--json'], { timeoutMs: 60_000 });
    expect(alone.code).toBe(0);
    const replay = (jsonLines(alone.stdout)[0] as unknown as Report).runs[0]!;
    expect(replay).toMatchObject({
      id: longest.id,
      passed: true,
      outcome: longest.outcome,
      expected: longest.expected,
      events: longest.events,
    });
  }, 240_000);

  it('refuses a 10,000-task sequence for path testing with exit 2 and a message naming the limit, not a stack trace', async () => {
    const file = writeScaleSequence(dir, 10_000);
    const r = await lockstep(['test', file, '--max-paths', '500'], { timeoutMs: 120_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'lockstep: scale v1 has 10000 tasks and 1 finally tasks; path testing handles at most 1000 of each: test a smaller sequence',
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stdout).toBe('');
  }, 150_000);

  it('test dir/ reports a sequence past the path-testing limit and still tests the others, exit 2', async () => {
    const both = mkdtempSync(join(dir, 'both-'));
    writeScaleSequence(both, 1_001, 'big');
    writeScaleSequence(both, 3, 'small');
    const r = await lockstep(['test', both], { timeoutMs: 120_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('big-1001.yaml: not tested: ');
    expect(r.stderr).toContain('path testing handles at most 1000 of each');
    expect(r.stdout).toContain('small-3.yaml');
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 150_000);

  it('refuses graph -f svg of a 1,000-task sequence with exit 2, the number of states and the limit; dot still works', async () => {
    const file = writeScaleSequence(dir, 1000);
    const r = await lockstep(['graph', file, '-f', 'svg', '--view', 'machine'], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'lockstep: the graph of scale v1 has 2009 states; SVG layout takes at most 120 (Graphviz takes far longer than the graph grows): use --format dot, mermaid or json (INVALID_USAGE)',
    );
    expect(r.stdout).toBe('');
    const tasks = await lockstep(['graph', file, '-f', 'svg'], { timeoutMs: 60_000 });
    expect(tasks.code).toBe(2);
    expect(tasks.stderr.trim()).toBe(
      'lockstep: the task view of scale v1 has 1005 nodes; SVG layout takes at most 400: use --format dot, mermaid or json (INVALID_USAGE)',
    );
    const dot = await lockstep(['graph', file, '-f', 'dot', '--view', 'machine'], { timeoutMs: 60_000 });
    expect(dot.code).toBe(0);
    expect(dot.stdout).toContain('"main.step-999"');
    const taskDot = await lockstep(['graph', file, '-f', 'dot'], { timeoutMs: 60_000 });
    expect(taskDot.code).toBe(0);
    expect(taskDot.stdout).toContain('"task:step-999"');
  }, 150_000);
});
