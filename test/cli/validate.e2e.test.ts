import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lockstep, ROOT } from '../support/cli.js';

const dir = `${ROOT}test/fixtures/invalid`;

// What each malformed file must report: the path of the problem and the gist of the message.
const expected: Record<string, string[]> = {
  '01-max-attempts-zero.yaml': ['tasks[2].retry.maxAttempts: expected an integer >= 1, got 0'],
  '02-unknown-key.yaml': ['tasks[0].retires: unknown key'],
  '03-duplicate-ids.yaml': ['finally[0].id: duplicate id "a", already used by tasks[0]'],
  '04-bad-duration.yaml': ['tasks[0].timeout: expected a duration like "500ms", "30s" or "5m", got "5 minutes"'],
  '05-two-kinds.yaml': ['tasks[0]: expected exactly one of "run", "handler" or "queue", got "run" and "queue"'],
  '06-no-kind.yaml': ['tasks[0]: expected exactly one of "run", "handler" or "queue", got none'],
  '07-bad-on-failure.yaml': ['tasks[0].onFailure: expected "stop" or "continue", got "ignore"'],
  '08-no-tasks.yaml': ['tasks: expected at least one task'],
  '09-missing-name.yaml': ['name: required'],
  '10-bad-id.yaml': ['tasks[0].id: expected an id of letters, digits, "-" or "_" that starts with a letter, got "2nd step"'],
  '11-bad-backoff.json': [
    'tasks[0].retry.backoff.factor: expected a number from 1 to 100, got 0.5',
    'tasks[0].retry.backoff.initial: expected a duration like "500ms", "30s" or "5m", got "-1s"',
    'tasks[0].retry.backoff.jitter: expected a number from 0 to 1, got 2',
  ],
  '12-yaml-syntax.yaml': ['line 5, column 1: Missing closing "quote'],
  '13-finally-compensate.yaml': ['finally[0].compensate: finally tasks cannot have a compensation'],
  '14-compensate-two-kinds.yaml': ['tasks[0].compensate: expected exactly one of "run", "handler" or "queue", got "run" and "queue"'],
};

describe('lockstep validate', () => {
  it('covers every fixture', () => {
    expect(readdirSync(dir).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const [file, problems] of Object.entries(expected)) {
    it(`exits 2 on ${file} and names the path of each problem`, async () => {
      const r = await lockstep(['validate', `${dir}/${file}`]);
      expect(r.code).toBe(2);
      for (const p of problems) expect(r.stderr).toContain(p);
    });
  }

  it('reports every problem of a file at once', async () => {
    const r = await lockstep(['validate', '--json', `${dir}/11-bad-backoff.json`]);
    expect(r.code).toBe(2);
    const [line] = r.stdout.trim().split('\n');
    expect(JSON.parse(line!).problems).toHaveLength(3);
  });

  it('accepts every example in machines/', async () => {
    const r = await lockstep(['validate', `${ROOT}machines`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(5);
  });

  it('exits 2 for a missing file', async () => {
    const r = await lockstep(['validate', `${dir}/nope.yaml`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('file not found');
  });
});
