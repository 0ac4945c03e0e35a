import { describe, expect, it } from 'vitest';
import { FinishedRuns } from '../../src/runtime/journals/kafka/finished-runs.js';

describe('FinishedRuns', () => {
  it('hands out the runs of a partition whose retention ran out, oldest first, at most `limit` at a time', () => {
    const f = new FinishedRuns(100);
    for (let i = 0; i < 5; i++) f.track(0, `r${i}`, 1000 + i * 10);
    f.track(1, 'other', 1000);
    expect(f.due(0, 1099, 10)).toEqual([]);
    expect(f.due(0, 1120, 10)).toEqual(['r0', 'r1', 'r2']);
    expect(f.due(0, 2000, 1)).toEqual(['r3']);
    expect(f.due(0, 2000, 10)).toEqual(['r4']);
    expect(f.due(0, 2000, 10)).toEqual([]);
    expect(f.size).toBe(1);
    expect(f.due(1, 1100, 10)).toEqual(['other']);
    expect(f.size).toBe(0);
  });

  it('forgets the runs of dropped partitions', () => {
    const f = new FinishedRuns(0);
    f.track(0, 'a', 1);
    f.track(1, 'b', 1);
    f.drop([0]);
    expect(f.size).toBe(1);
    expect(f.due(0, 10, 10)).toEqual([]);
    expect(f.due(1, 10, 10)).toEqual(['b']);
  });

  it('keeps memory bounded: past maxTracked it forgets the oldest run of any partition', () => {
    const f = new FinishedRuns(0, 3);
    f.track(0, 'a', 1);
    f.track(1, 'b', 2);
    f.track(0, 'c', 3);
    f.track(1, 'd', 4);
    expect(f.size).toBe(3);
    expect([...f.due(0, 10, 10), ...f.due(1, 10, 10)]).toEqual(['c', 'b', 'd']);
  });

  it('stays in order across many runs (its queues are compacted as they drain)', () => {
    const f = new FinishedRuns(10);
    const out: string[] = [];
    for (let i = 0; i < 5000; i++) {
      f.track(0, `r${i}`, i);
      out.push(...f.due(0, i, 7));
    }
    out.push(...f.due(0, 1e9, 1e9));
    expect(out).toEqual(Array.from({ length: 5000 }, (_, i) => `r${i}`));
    expect(f.size).toBe(0);
  });
});

describe('FinishedRuns.has', () => {
  it('knows a run from when it is tracked until it is handed out, dropped or forgotten', () => {
    const f = new FinishedRuns(100, 2);
    f.track(0, 'a', 1);
    expect(f.has('a')).toBe(true);
    expect(f.due(0, 200, 10)).toEqual(['a']);
    expect(f.has('a')).toBe(false);
    f.track(1, 'b', 1);
    f.drop([1]);
    expect(f.has('b')).toBe(false);
    f.track(0, 'c', 1);
    f.track(0, 'd', 2);
    f.track(0, 'e', 3);
    expect([f.has('c'), f.has('d'), f.has('e')]).toEqual([false, true, true]);
  });

  it('hands a run out once, at its latest end, when it was tracked again (restored after a revoke)', () => {
    const f = new FinishedRuns(100);
    f.track(0, 'a', 1);
    f.track(0, 'a', 50);
    expect(f.due(0, 120, 10)).toEqual([]);
    expect(f.has('a')).toBe(true);
    expect(f.due(0, 150, 10)).toEqual(['a']);
    expect(f.has('a')).toBe(false);
  });
});
