import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jsonLines, lockstep, ROOT } from '../support/cli.js';

const MACHINES = `${ROOT}machines`;

describe('lockstep test', () => {
  it('passes on every example in machines/ with full state and transition coverage', async () => {
    const r = await lockstep(['test', MACHINES, '--json'], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const reports = jsonLines(r.stdout) as Array<{
      file: string;
      failed: number;
      passed: number;
      paths: { total: string; run: number; exhaustive: boolean };
      coverage: { states: { covered: number; total: number }; transitions: { covered: number; total: number } };
    }>;
    expect(reports.map((x) => x.file.split('/').pop())).toEqual(
      readdirSync(MACHINES)
        .filter((f) => /\.(ya?ml|json)$/.test(f))
        .sort(),
    );
    for (const report of reports) {
      expect(report.failed, report.file).toBe(0);
      expect(report.passed).toBe(report.paths.run);
      expect(report.paths.run).toBeGreaterThan(0);
      expect(report.coverage.transitions.covered, report.file).toBe(report.coverage.transitions.total);
      expect(report.coverage.states.covered, report.file).toBe(report.coverage.states.total);
    }
  });

  it('prints a table of paths with their events, expected outcome and result, then coverage', async () => {
    const r = await lockstep(['test', `${MACHINES}/hello.yaml`]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`hello v1 (${MACHINES}/hello.yaml): all 13 paths`);
    expect(lines[1]).toMatch(/^ {2}PATH +EXPECTED +RESULT +EVENTS$/);
    expect(lines).toContain('  SSF   failed     ok      greet ok > count ok > goodbye fail');
    // A cancelled attempt ends (its report of the abort, or a success despite it) or its stop grace expires, before
    // the run ends.
    expect(lines).toContain('  SCE   cancelled  ok      greet ok > cancel > count ended (stopped)');
    expect(lines).toContain('  SCD   cancelled  ok      greet ok > cancel > count succeeded anyway (stopped)');
    expect(lines).toContain('  SCG   cancelled  ok      greet ok > cancel > count stop grace expired');
    expect(lines.at(-2)).toMatch(/^coverage: states 11\/11 \(100%\), transitions 16\/16 \(100%\)/);
    expect(lines.at(-1)).toMatch(/^13 paths: 13 passed, 0 failed \(\d+\.\ds\)$/);
  });

  it('samples with a seed when there are more paths than --max-paths, still covering every transition', async () => {
    const args = ['test', `${MACHINES}/compensation.yaml`, '--max-paths', '5', '--seed', 'abc', '--json'];
    const [a, b] = await Promise.all([lockstep(args), lockstep(args)]);
    const [ra, rb] = [jsonLines(a.stdout)[0]!, jsonLines(b.stdout)[0]!] as Array<{
      runs: Array<{ id: string }>;
      paths: { exhaustive: boolean; total: string };
      coverage: { transitions: { covered: number; total: number } };
    }>;
    expect(ra!.paths.exhaustive).toBe(false);
    expect(ra!.runs.map((x) => x.id)).toEqual(rb!.runs.map((x) => x.id));
    expect(ra!.runs.length).toBeLessThan(Number(ra!.paths.total));
    expect(ra!.coverage.transitions.covered).toBe(ra!.coverage.transitions.total);
  });

  it('replays one path with --path', async () => {
    const r = await lockstep(['test', `${MACHINES}/compensation.yaml`, '--path', 'SSFSSS']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1 given path of 218');
    expect(r.stdout).not.toContain('not covered');
    expect(r.stdout).toContain(
      '  SSFSSS  failed    ok      create-order ok > reserve-stock ok > charge fail > reserve-stock.compensate ok > create-order.compensate ok > audit ok',
    );
  });

  it("names each wait's paths in its words: signal, rejected, timed out, cancelled while waiting", async () => {
    const r = await lockstep(['test', `${MACHINES}/approval.yaml`]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toContain('  SFS      failed     ok      build ok > approve: rejected > notify ok');
    expect(lines).toContain('  STS      failed     ok      build ok > approve: timed out > notify ok');
    expect(lines).toContain('  SCS      cancelled  ok      build ok > approve: cancelled while waiting > notify ok');
    expect(lines.find((l) => l.startsWith('  SSSSS '))).toContain('build ok > approve: signal > deploy ok > smoke-test ok > notify ok');
    expect(lines.at(-4)).toMatch(/^coverage: states (\d+)\/\1 \(100%\), transitions (\d+)\/\2 \(100%\)/);
    expect(lines.slice(-3, -1)).toEqual([
      'waits:',
      '  approve: signal (26 paths), rejected (2), timed out (2), cancelled while waiting (2); signals ignored as they must be: 26 duplicate, 6 late, 40 early',
    ]);
  });

  it('rejects a path that the sequence cannot take, naming the possible steps', async () => {
    const r = await lockstep(['test', `${MACHINES}/hello.yaml`, '--path', 'SX']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('lockstep: path SX: step 2 "X" is not possible there (possible: S, F, C) (INVALID_USAGE)');
  });

  it('rejects --path with more than one file, and a --max-paths below 1', async () => {
    const many = await lockstep(['test', MACHINES, '--path', 'S']);
    expect(many.code).toBe(2);
    const examples = readdirSync(MACHINES).filter((f) => /\.(ya?ml|json)$/.test(f)).length;
    expect(many.stderr).toContain(`--path replays a path of one sequence: give one file, got ${examples}`);
    const zero = await lockstep(['test', `${MACHINES}/hello.yaml`, '--max-paths', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--max-paths: expected an integer from 1 and up, got "0"');
  });
});
