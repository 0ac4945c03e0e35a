import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'lockstep-bad-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const GOOD = 'name: good\nversion: 1\ntasks:\n  - id: a\n    run: echo \'{"ok":true}\'\n';
const bomb = ['name: bomb', 'tasks: [{ id: a, run: x }]', 'a: &a [x, x, x, x, x, x, x, x, x]']
  .concat(Array.from({ length: 8 }, (_, i) => `${'bcdefghi'[i]}: &${'bcdefghi'[i]} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`))
  .join('\n');

/** Each bad file and what `validate` must say about it. */
const BAD: Record<string, { text: string | Buffer; says: string }> = {
  'alias.yaml': { text: 'name: x\nversion: 1\ntasks: *foo\n', says: 'line 3, column 8: alias *foo has no anchor &foo before it' },
  'bomb.yaml': { text: bomb, says: '(root): aliases expand to more than 100 copies of their anchors (an alias bomb)' },
  'cycle.yaml': { text: 'name: x\ntasks: &t [*t]\n', says: 'alias *t is inside its own anchor &t (a cycle)' },
  'deep.yaml': {
    text: `name: x\ntasks: ${'['.repeat(3000)}${']'.repeat(3000)}\n`,
    says: 'line 2, column 72: nesting deeper than 64 levels',
  },
  'deep-block.yaml': { text: `name: x\ntasks:\n${'- '.repeat(3000)}x\n`, says: 'nesting deeper than 64 levels' },
  'deep.json': { text: `{"name": "x", "tasks": ${'{"a": '.repeat(20_000)}1${'}'.repeat(20_000)}}`, says: 'nesting deeper than 64 levels' },
  'two-docs.yaml': { text: `${GOOD}---\n${GOOD}`, says: 'line 6, column 1: a second document: a definition is one YAML document' },
  'empty.yaml': { text: '', says: '(root): the text is empty: expected a mapping with "name" and "tasks"' },
  'list.yaml': { text: '- a\n- b\n', says: '(root): expected a mapping with "name" and "tasks", got a list' },
  'binary.yaml': {
    text: Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0x00, 0x01, 0x02, 0x0a]),
    says: 'line 1, column 7: a NUL character: this is not a text file',
  },
  'latin1.yaml': {
    text: Buffer.from('name: caf\xe9\ntasks: []\n', 'latin1'),
    says: '(file): not UTF-8 text (the first invalid byte is at offset 9)',
  },
  'huge.yaml': {
    text: `name: huge\ntasks:\n${'  - { id: a, run: x }\n'.repeat(100_000)}`,
    says: `(file): ${18 + 22 * 100_000} bytes, more than the 2 MiB a definition may have`,
  },
};

function machines(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'good.yaml'), GOOD);
  for (const [file, { text }] of Object.entries(BAD)) writeFileSync(join(dir, file), text);
  return dir;
}

const noStackTrace = (text: string) => expect(text).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)|Error:/);

describe('bad definition files', () => {
  const dir = machines('validate');

  it('validate dir/ reports every bad file with its reason, never a stack trace, checks the good one and exits 2', async () => {
    const r = await lockstep(['validate', dir]);
    expect(r.code).toBe(2);
    noStackTrace(r.stderr);
    expect(r.stdout).toContain(`${join(dir, 'good.yaml')}: ok (good, 1 tasks, 0 finally)`);
    for (const [file, { says }] of Object.entries(BAD)) {
      expect(r.stderr, file).toContain(`${join(dir, file)}: invalid`);
      expect(r.stderr, file).toContain(says);
    }
  });

  it('validate --json prints one object per file, bad ones with their problems', async () => {
    const r = await lockstep(['validate', '--json', dir]);
    expect(r.code).toBe(2);
    const lines = jsonLines(r.stdout) as Array<{ file: string; valid: boolean; problems?: Array<{ path: string; message: string }> }>;
    expect(lines).toHaveLength(Object.keys(BAD).length + 1);
    expect(lines.filter((l) => l.valid).map((l) => l.file)).toEqual([join(dir, 'good.yaml')]);
    for (const l of lines.filter((x) => !x.valid)) expect(l.problems!.length, l.file).toBeGreaterThan(0);
  });

  it('validate exits 2 on each bad file alone, with one message and no stack trace', async () => {
    for (const file of ['alias.yaml', 'bomb.yaml', 'deep.yaml']) {
      const r = await lockstep(['validate', join(dir, file)]);
      expect(r.code, file).toBe(2);
      expect(r.stderr, file).toContain(BAD[file]!.says);
      noStackTrace(r.stderr);
    }
  });

  it('test dir/ reports the bad files, still tests the good one and exits 2', async () => {
    const r = await lockstep(['test', dir], { timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    noStackTrace(r.stderr);
    expect(r.stdout).toContain(`good v1 (${join(dir, 'good.yaml')}): all`);
    expect(r.stdout).toMatch(/paths: \d+ passed, 0 failed/);
    for (const [file, { says }] of Object.entries(BAD)) {
      expect(r.stderr, file).toContain(`${join(dir, file)}: invalid\n`);
      expect(r.stderr, file).toContain(says);
    }
  });

  it('run and graph of a bad file exit 2 with the reason', async () => {
    for (const args of [
      ['run', join(dir, 'bomb.yaml'), '--store', join(root, 'run-bad.db')],
      ['graph', join(dir, 'deep.json')],
    ]) {
      const r = await lockstep(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/aliases expand|nesting deeper/);
      noStackTrace(r.stderr);
    }
    expect(existsSync(join(root, 'run-bad.db'))).toBe(false);
  });
});

describe('inputs that cannot be stored or passed', () => {
  const dir = join(root, 'inputs');
  mkdirSync(dir);
  const file = join(dir, 'good.yaml');
  writeFileSync(file, GOOD);
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  writeFileSync(join(dir, 'deep-input.json'), deep(20_000));
  writeFileSync(join(dir, 'big-input.json'), JSON.stringify({ blob: 'x'.repeat(1_100_000) }));
  const store = join(dir, 'runs.db');

  it.each([
    ['a 20,000-deep --input @file', `@${join(dir, 'deep-input.json')}`, 'input[0][0][0][0][0][0][0][0]...: nesting deeper than 64 levels'],
    ['a 65-deep inline --input', deep(65), 'nesting deeper than 64 levels'],
    [
      'a 1.1 MB --input',
      `@${join(dir, 'big-input.json')}`,
      `input: ${1_100_000 + 11} bytes as JSON, more than the 1 MiB an input may have`,
    ],
    ['an @ path that is no file', '@http://[', '--input: cannot read http://[: ENOENT'],
  ])('run refuses %s up front: exit 2, the reason, nothing recorded', async (_what, input, says) => {
    const r = await lockstep(['run', file, '--input', input, '--store', store]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(says);
    expect(r.stderr).toContain('(INVALID_USAGE)');
    noStackTrace(r.stderr);
    expect(r.stdout).toBe('');
    expect(existsSync(store)).toBe(false);
  });

  it('run accepts an input at the limits (64 levels) and records it', async () => {
    const r = await lockstep(['run', file, '--input', deep(64), '--store', store, '--json']);
    expect(r.code).toBe(0);
    const started = jsonLines(r.stdout).find((e) => e.type === 'run.started')!;
    let v = started.input;
    let depth = 0;
    while (Array.isArray(v)) {
      depth++;
      v = v[0];
    }
    expect(depth).toBe(64);
  });

  it('start (Kafka mode) refuses a too-deep input before connecting to any broker: exit 2', async () => {
    const r = await lockstep(['start', 'good', '--brokers', '127.0.0.1:1', '--input', `@${join(dir, 'deep-input.json')}`], {
      timeoutMs: 10_000,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nesting deeper than 64 levels');
    noStackTrace(r.stderr);
  });
});
