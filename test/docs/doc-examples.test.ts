// Every shell example of README.md and docs/ has a check (test/docs/doc-example-checks.ts), and every check
// still matches an example: a new example, or an edited one, fails here until it is checked.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';
import { CHECKS, checkOf, referenceParts } from './doc-example-checks.js';
import { allExamples, extractExamples, stripComment } from './doc-examples.js';
import { normalise, outputDiff } from './doc-output.js';

describe('extractExamples', () => {
  const md = [
    'Run `lockstep test machines/` or `lockstep/testing`; `lockstep resume',
    '<runId>` spans lines, `npm run build` too.',
    '',
    '```sh',
    'npx lockstep run a.yaml   # comment',
    "echo '#not a comment' \\",
    '  again',
    '```',
    '',
    '```',
    '$ lockstep validate x/',
    'x/a.yaml: invalid',
    '...',
    '```',
    '',
    '```ts',
    "await run('lockstep run')",
    '```',
    '```text',
    'lockstep run b.yaml',
    '```',
    '  ```bash',
    '  lockstep graph c.yaml',
    '  ```',
  ].join('\n');
  const examples = extractExamples('x.md', md);

  it('finds commands, transcripts and inline commands with their lines; ts and text blocks are not commands', () => {
    expect(examples).toEqual([
      { file: 'x.md', line: 1, kind: 'inline', command: 'lockstep test machines/' },
      { file: 'x.md', line: 1, kind: 'inline', command: 'lockstep resume <runId>' },
      { file: 'x.md', line: 2, kind: 'inline', command: 'npm run build' },
      { file: 'x.md', line: 5, kind: 'command', command: 'npx lockstep run a.yaml' },
      { file: 'x.md', line: 6, kind: 'command', command: "echo '#not a comment' again" },
      { file: 'x.md', line: 11, kind: 'transcript', command: 'lockstep validate x/', output: ['x/a.yaml: invalid', '...'] },
      { file: 'x.md', line: 23, kind: 'command', command: 'lockstep graph c.yaml' },
    ]);
  });

  it('strips trailing comments only', () => {
    expect(stripComment('a "b # c" d  # e')).toBe('a "b # c" d');
    expect(stripComment('echo $# a#b')).toBe('echo $# a#b');
  });

  it('parses the command and the options of a reference', () => {
    expect(referenceParts('lockstep topics create --partitions N')).toEqual({
      subcommand: ['topics', 'create'],
      options: ['--partitions'],
    });
    expect(referenceParts('lockstep rerun <runId> [--from <taskId>] [--dry-run]')).toEqual({
      subcommand: ['rerun'],
      options: ['--from', '--dry-run'],
    });
  });
});

describe('outputDiff', () => {
  it('matches line for line, where `...` stands for any lines, none included', () => {
    expect(outputDiff(['a', '...', 'd'], 'a\nb\nc\nd\n')).toBeUndefined();
    expect(outputDiff(['a', '  ...', 'b'], 'a\nb')).toBeUndefined();
    expect(outputDiff(['a', '...'], 'a\nb\nc')).toBeUndefined();
    expect(outputDiff(['a', 'c'], 'a\nb\nc')).toMatch(/not the shown ones in order/);
    expect(outputDiff(['a'], 'a\nb')).toMatch(/more are printed/);
    expect(outputDiff(['a', 'x'], 'a\nb')).toMatch(/line 2 of the shown output is not printed/);
  });

  it('replaces only durations, UUIDs and timestamps', () => {
    expect(normalise('17 paths: 17 passed, 0 failed (0.1s)  ')).toBe('17 paths: 17 passed, 0 failed (<duration>)');
    expect(normalise('run 0b5c7c1e-2f5a-4c8e-9d3b-6a1f0e2d4c5b at 2026-01-01T00:00:00.123Z took 12ms')).toBe(
      'run <uuid> at <time> took <duration>',
    );
    expect(normalise('5 sequences, 100% of 16/16')).toBe('5 sequences, 100% of 16/16');
  });
});

describe('the examples of README.md and docs/', () => {
  const examples = allExamples(ROOT);

  it('are found', () => {
    expect(examples.length).toBeGreaterThan(50);
    expect(examples.some((e) => e.file === 'docs/testing-sequences.md')).toBe(true);
  });

  it('each have a check', () => {
    const unchecked = examples.filter((e) => !checkOf(e)).map((e) => `${e.file}:${e.line}: ${e.command}`);
    expect(unchecked, 'add each to CHECKS in test/docs/doc-example-checks.ts, with how it is checked').toEqual([]);
  });

  it('have no stale check: every entry is an example the docs show', () => {
    const shown = new Set(examples.map((e) => e.command));
    expect(Object.keys(CHECKS).filter((c) => !shown.has(c))).toEqual([]);
  });

  it('name npm scripts of package.json and files of the checkout, even when they are not run', () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: object }).scripts);
    for (const e of examples) {
      for (const m of e.command.matchAll(/\bnpm run ([\w:-]+)/g)) expect(scripts, `${e.file}:${e.line}`).toContain(m[1]);
      for (const m of e.command.matchAll(/(?:^|\s)(\.ci\/[\w./-]+)/g))
        expect(existsSync(join(ROOT, m[1]!)), `${e.file}:${e.line}: ${m[1]}`).toBe(true);
    }
  });
});
