import { describe, expect, it } from 'vitest';
import { MAX_DURATION_MS } from '../../../src/core/sequence/duration.js';
import { validateSequence } from '../../../src/core/sequence/validate.js';

const messages = (raw: unknown): string[] => {
  const r = validateSequence(raw);
  return r.success ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
};

describe('the longest duration a definition may declare', () => {
  it('is 365 days, and accepted in every duration field', () => {
    expect(MAX_DURATION_MS).toBe(365 * 86_400_000);
    const r = validateSequence({
      name: 'x',
      timeout: '365d',
      tasks: [{ id: 'a', run: 'true', timeout: '8760h', retry: { maxAttempts: 2, backoff: { initial: '525600m', max: MAX_DURATION_MS } } }],
    });
    expect(r.success).toBe(true);
    if (!r.success) return;
    expect(r.sequence.timeoutMs).toBe(MAX_DURATION_MS);
    expect(r.sequence.tasks[0]).toMatchObject({
      timeoutMs: MAX_DURATION_MS,
      retry: { backoff: { initialMs: MAX_DURATION_MS, maxMs: MAX_DURATION_MS } },
    });
  });

  it('rejects anything longer in every duration field, bare numbers included, with the path', () => {
    expect(
      messages({
        name: 'x',
        timeout: '400d',
        tasks: [
          { id: 'a', run: 'true', timeout: '400d', retry: { maxAttempts: 2, backoff: { initial: '365.5d', max: MAX_DURATION_MS + 1 } } },
          { id: 'b', run: 'true', timeout: 1e20, compensate: { run: 'true', timeout: '9000h' } },
        ],
        finally: [{ id: 'f', run: 'true', timeout: '31536000001ms' }],
      }).sort(),
    ).toEqual(
      [
        'timeout: expected a duration up to 365d, got "400d"',
        'tasks[0].timeout: expected a duration up to 365d, got "400d"',
        'tasks[0].retry.backoff.initial: expected a duration up to 365d, got "365.5d"',
        `tasks[0].retry.backoff.max: expected a duration up to 365d, got ${MAX_DURATION_MS + 1}`,
        'tasks[1].timeout: expected a duration up to 365d, got 100000000000000000000',
        'tasks[1].compensate.timeout: expected a duration up to 365d, got "9000h"',
        'finally[0].timeout: expected a duration up to 365d, got "31536000001ms"',
      ].sort(),
    );
  });
});
