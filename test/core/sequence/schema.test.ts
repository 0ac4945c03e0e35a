import { describe, expect, it } from 'vitest';
import { DefinitionError } from '../../../src/core/errors.js';
import { sequence } from '../../../src/core/sequence/builder.js';
import { parseDuration } from '../../../src/core/sequence/duration.js';
import { loadSequenceText, validateSequence } from '../../../src/core/sequence/validate.js';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1.5s', 1_500],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    [250, 250],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(['5 minutes', '-1s', '1w', '', 'ms', -5])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('sequence schema', () => {
  it('fills in defaults', () => {
    const seq = loadSequenceText('name: x\ntasks:\n  - id: a\n    run: echo a\n');
    expect(seq).toMatchObject({ name: 'x', version: '1', finally: [] });
    expect(seq.tasks[0]).toMatchObject({
      onFailure: 'stop',
      retry: { maxAttempts: 1, backoff: { initialMs: 1000, factor: 2, maxMs: 300_000, jitter: 0 } },
    });
  });

  it('names compensations <id>.compensate', () => {
    const seq = loadSequenceText('name: x\ntasks:\n  - id: a\n    run: echo a\n    compensate: { run: echo undo }\n');
    expect(seq.tasks[0]!.compensate?.id).toBe('a.compensate');
  });

  it('reports every problem with its path, in file order', () => {
    const r = validateSequence({ name: '', tasks: [{ id: 'a' }, { id: 'a', run: 'x', timeout: 'soon' }], extra: true });
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(r.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'extra: unknown key',
      'name: expected a non-empty string',
      'tasks[0]: expected exactly one of "run", "handler" or "queue", got none',
      'tasks[1].id: duplicate id "a", already used by tasks[0]',
      'tasks[1].timeout: expected a duration like "500ms", "30s" or "5m", got "soon"',
    ]);
  });
});

describe('builder', () => {
  it('builds the same shape as a file, with handlers', () => {
    const fn = async () => 1;
    const seq = sequence('b', { timeout: '1m' })
      .then('a', fn, { retry: { maxAttempts: 2 } })
      .then('s', { run: 'echo' })
      .finally('f', fn)
      .build();
    expect(seq.timeoutMs).toBe(60_000);
    expect(seq.tasks.map((t) => t.action.kind)).toEqual(['handler', 'shell']);
    expect(seq.finally[0]!.id).toBe('f');
  });

  it('throws a DefinitionError listing the problems', () => {
    const build = () =>
      sequence('b')
        .then('a', () => 1, { retry: { maxAttempts: 0 } })
        .then('a', () => 2)
        .build();
    expect(build).toThrow(DefinitionError);
    try {
      build();
    } catch (e) {
      expect((e as DefinitionError).problems.map((p) => p.path)).toEqual(['tasks[0].retry.maxAttempts', 'tasks[1].id']);
    }
  });
});
