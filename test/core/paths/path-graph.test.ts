import { describe, expect, it } from 'vitest';
import { coverageOf } from '../../../src/core/paths/coverage.js';
import { expectOutcome } from '../../../src/core/paths/expectation.js';
import { buildPathGraph } from '../../../src/core/paths/path-graph.js';
import { createRunModel } from '../../../src/core/paths/run-model.js';
import { sequence } from '../../../src/core/sequence/builder.js';
import type { Sequence } from '../../../src/core/sequence/types.js';

const noop = () => undefined;
const graphOf = (s: Sequence) => buildPathGraph(createRunModel(s));
const ids = (s: Sequence) =>
  graphOf(s)
    .select({ maxPaths: 10_000, seed: 1 })
    .paths.map((p) => p.id)
    .sort();

describe('path graph: enumeration', () => {
  it('lists every path of a plain sequence: each task succeeds, fails or is cancelled', () => {
    const s = sequence('plain').then('a', noop).then('b', noop).then('c', noop).build();
    // A cancelled attempt then reports its abort (E), ignores it and succeeds (D), or never reports within its stop
    // grace (G): the run ends only after that.
    expect(ids(s)).toEqual(['CD', 'CE', 'CG', 'F', 'SCD', 'SCE', 'SCG', 'SF', 'SSCD', 'SSCE', 'SSCG', 'SSF', 'SSS']);
    expect(graphOf(s).total).toBe(13n);
  });

  it('counts retries up to maxAttempts, with a backoff step between attempts', () => {
    const s = sequence('retry')
      .then('a', noop, { retry: { maxAttempts: 3 } })
      .build();
    // A cancel during a backoff stops nothing: the run ends at once.
    expect(ids(s)).toEqual(
      ['CD', 'CE', 'CG', 'FC', 'FRCD', 'FRCE', 'FRCG', 'FRFC', 'FRFRCD', 'FRFRCE', 'FRFRCG', 'FRFRF', 'FRFRS', 'FRS', 'S'].sort(),
    );
  });

  it('adds a timeout outcome to every attempt of a task with a timeout', () => {
    const s = sequence('slow')
      .then('a', noop, { timeout: '1m', retry: { maxAttempts: 2 } })
      .build();
    const g = graphOf(s);
    expect(g.total).toBe(61n);
    expect(g.path('TRETG').steps.map((st) => st.label)).toEqual([
      'a timeout',
      'a retry',
      'a ended (stopped)',
      'a#2 timeout',
      'a#2 stop grace expired',
    ]);
    // The stopped report may come before the retry timer too.
    expect(g.path('TERS').id).toBe('TERS');
    // Or the stopped attempt ignores its abort and succeeds: the task still failed (timed out), and retries.
    expect(g.path('TDRS').steps.map((st) => st.label)).toEqual(['a timeout', 'a succeeded anyway (stopped)', 'a retry', 'a#2 ok']);
  });

  it('starts no attempt while the one a timeout stopped is still ending', () => {
    const s = sequence('slow')
      .then('a', noop, { timeout: '1m', retry: { maxAttempts: 2 } })
      .build();
    expect(() => graphOf(s).path('TRT')).toThrow('path TRT: step 3 "T" is not possible there (possible: E, D, G, C)');
  });

  it('only lets the timer that really comes first fire: the run timeout races task timeouts and backoffs', () => {
    const longTask = sequence('long', { timeout: '1m' }).then('a', noop, { timeout: '2m' }).build();
    const long = graphOf(longTask)
      .select({ maxPaths: 100, seed: 1 })
      .paths.map((p) => p.id);
    expect(long.some((id) => id.includes('T'))).toBe(false);
    expect(long).toContain('XE');

    // a times out at 10s (its stop grace ends by 25s), retries at 30s, times out at 40s (grace until 55s); the next
    // retry (40s backoff) would be at 80s, after the run's 60s.
    const raced = sequence('raced', { timeout: '1m' })
      .then('a', noop, { timeout: '10s', retry: { maxAttempts: 3, backoff: { initial: '20s', factor: 2 } } })
      .build();
    const g = graphOf(raced);
    expect(g.path('TERTEX').id).toBe('TERTEX');
    expect(g.path('TGRTGX').id).toBe('TGRTGX');
    expect(() => g.path('TERTER')).toThrow('path TERTER: step 6 "R" is not possible there (possible: X, C)');
  });

  it('covers compensations and finally tasks, and skips compensations of tasks that never completed', () => {
    const s = sequence('saga').then('a', noop, { compensate: noop }).then('b', noop, { compensate: noop }).finally('f', noop).build();
    const g = graphOf(s);
    expect(g.path('SFSS').steps.map((st) => st.label)).toEqual(['a ok', 'b fail', 'a.compensate ok', 'f ok']);
  });
});

describe('path graph: replay by id', () => {
  const g = graphOf(sequence('plain').then('a', noop).then('b', noop).build());

  it('explains a token that is not possible where it appears', () => {
    expect(() => g.path('SX')).toThrow('path SX: step 2 "X" is not possible there (possible: S, F, C)');
  });

  it('rejects a path that stops before the run ends', () => {
    expect(() => g.path('S')).toThrow('path S stops before the run ends (next step could be: S, F, C)');
  });
});

describe('path graph: seeded sampling', () => {
  let b = sequence('big');
  for (let i = 0; i < 6; i++)
    b = b.then(`t${i}`, noop, { timeout: '30s', retry: { maxAttempts: 3 }, ...(i % 2 ? { compensate: noop } : {}) });
  const big = b.finally('cleanup', noop).build();
  const g = graphOf(big);

  it('is deterministic for a seed and differs between seeds', () => {
    const one = g.select({ maxPaths: 40, seed: 7 }).paths.map((p) => p.id);
    expect(g.select({ maxPaths: 40, seed: 7 }).paths.map((p) => p.id)).toEqual(one);
    expect(g.select({ maxPaths: 40, seed: 8 }).paths.map((p) => p.id)).not.toEqual(one);
    expect(new Set(one).size).toBe(one.length);
  });

  it('takes every reachable transition and enters every reachable state, even with few paths', () => {
    expect(g.total > 10_000n).toBe(true);
    const { paths, exhaustive } = g.select({ maxPaths: 1, seed: 1 });
    expect(exhaustive).toBe(false);
    const c = coverageOf(g, paths);
    expect(c.transitions.covered).toBe(c.transitions.total);
    expect(c.states.covered).toBe(c.states.total);
    expect(c.uncovered).toEqual([]);
  });

  it('fills up to maxPaths with distinct paths', () => {
    expect(g.select({ maxPaths: 300, seed: 1 }).paths).toHaveLength(300);
  });
});

describe('expected outcome by policy', () => {
  const s = sequence('policy')
    .then('a', noop, { retry: { maxAttempts: 2 }, timeout: '1s' })
    .then('b', noop, { onFailure: 'continue' })
    .finally('f', noop)
    .build();
  const g = graphOf(s);
  const expect_ = (id: string) => expectOutcome(s, g.path(id).steps);

  it('succeeds when the last task fails under continue', () => {
    expect(expect_('SFS')).toMatchObject({ outcome: 'succeeded', unwinds: false });
  });

  it('fails when a stop task fails all its attempts, counting timeouts as failures', () => {
    expect(expect_('FRTES')).toEqual({ outcome: 'failed', because: 'a failed 2 of 2 attempts (onFailure: stop)', unwinds: true });
  });

  it('fails when a finally task fails after a successful main phase', () => {
    expect(expect_('SSF')).toMatchObject({ outcome: 'failed', because: 'finally task f failed all its attempts' });
  });

  it('is cancelled by a cancel in the main phase, even during a backoff', () => {
    expect(expect_('FCS')).toMatchObject({ outcome: 'cancelled', unwinds: true });
  });
});

describe('path graph: size', () => {
  const tight = (jitter: number) => {
    let b = sequence('tight', { timeout: '3m' });
    for (let i = 0; i < 8; i++)
      b = b.then(`t${i}`, noop, { timeout: '30s', retry: { maxAttempts: 3, backoff: { initial: '1s', jitter } } });
    return b.build();
  };

  it('keeps time out of the state while the run timeout cannot come first', () => {
    let b = sequence('roomy', { timeout: '1h' });
    for (let i = 0; i < 10; i++)
      b = b.then(`t${i}`, noop, { timeout: '30s', retry: { maxAttempts: 3, backoff: { initial: '1s', jitter: 0.2 } } });
    const g = graphOf(b.build());
    expect(g.size.states).toBeLessThan(200);
    expect(g.total).toBe(194_503_340_819_558_233n);
  });

  it('explains why a model is too large instead of exploring forever', () => {
    expect(() => buildPathGraph(createRunModel(tight(0.2)), { limit: 5_000 })).toThrow(
      'the path model of tight exceeds 5000 transitions: its run timeout (3m 00s) can cut the main phase (up to 16m 00s) at too many different ' +
        'moments, and backoff jitter makes every retry delay distinct; a run timeout longer than 16m 00s or no jitter keeps the model small',
    );
    expect(buildPathGraph(createRunModel(tight(0)), { limit: 25_000 }).size.edges).toBeLessThan(25_000);
  });
});
