// The rerun plan is pure: what it reuses and reruns follows from the sequence and the earlier run's history alone.
import { describe, expect, it } from 'vitest';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { defaultRerunFrom, describeRerunSteps, planRerun } from '../../src/core/run/rerun-plan.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';

const sequence = loadSequenceText(
  [
    'name: saga',
    'tasks:',
    '  - id: a',
    '    run: "true"',
    '    compensate: { run: "true" }',
    '  - id: b',
    '    run: "true"',
    '  - id: c',
    '    run: "true"',
    '    compensate: { run: "true" }',
    '  - id: d',
    '    run: "true"',
    '',
  ].join('\n'),
);

let at = 0;
const started = (task: string, phase: 'main' | 'compensate' = 'main'): RunEntry =>
  ({ type: 'task.started', runId: 'r1', at: at++, task, attempt: 1, phase, idempotencyKey: `r1:${task}:1` }) as RunEntry;
const succeeded = (task: string, result?: unknown, phase: 'main' | 'compensate' = 'main'): RunEntry =>
  ({
    type: 'task.succeeded',
    runId: 'r1',
    at: at++,
    task,
    attempt: 1,
    phase,
    durationMs: 1,
    ...(result === undefined ? {} : { result }),
    event: { type: 'TASK_SUCCEEDED' },
  }) as unknown as RunEntry;
const failed = (task: string): RunEntry =>
  ({
    type: 'task.failed',
    runId: 'r1',
    at: at++,
    task,
    attempt: 1,
    phase: 'main',
    willRetry: false,
    error: { message: 'x', code: 'TASK_FAILED', retriable: false },
    event: { type: 'TASK_FAILED' },
  }) as unknown as RunEntry;

describe('planRerun', () => {
  it('without compensation, reuses every task before from', () => {
    const history = [
      started('a'),
      succeeded('a', 1),
      started('b'),
      succeeded('b', 2),
      started('c'),
      succeeded('c', 3),
      started('d'),
      failed('d'),
    ];
    expect(defaultRerunFrom(sequence, history)).toBe('d');
    const { plan, reuse } = planRerun(sequence, 'r1', history, 'd');
    expect(plan).toMatchObject({ from: 'd', rerun: ['d'] });
    expect(plan.requested).toBeUndefined();
    expect(reuse.succeeded).toEqual([
      { taskId: 'a', result: 1 },
      { taskId: 'b', result: 2 },
      { taskId: 'c', result: 3 },
    ]);
  });

  it('a task whose compensation ran is not reused even when the current definition no longer declares it', () => {
    const current = loadSequenceText(
      ['name: saga', 'tasks:', '  - id: a', '    run: "true"', '  - id: b', '    run: "true"', ''].join('\n'),
    );
    const history = [
      started('a'),
      succeeded('a', 1),
      started('b'),
      failed('b'),
      started('a.compensate', 'compensate'),
      succeeded('a.compensate', undefined, 'compensate'),
    ];
    expect(defaultRerunFrom(current, history)).toBe('a');
    const { plan, reuse } = planRerun(current, 'r1', history, 'b');
    expect(plan).toMatchObject({ from: 'a', requested: 'b', rerun: ['a', 'b'] });
    expect(reuse.succeeded).toEqual([]);
  });

  it('a compensation that was only started (interrupted, or failed) still makes its task run again', () => {
    // d failed; c's compensation succeeded; a's started and never reported (its process died).
    const history = [
      started('a'),
      succeeded('a', 1),
      started('b'),
      succeeded('b', 2),
      started('c'),
      succeeded('c', 3),
      started('d'),
      failed('d'),
      started('c.compensate', 'compensate'),
      succeeded('c.compensate', undefined, 'compensate'),
      started('a.compensate', 'compensate'),
    ];
    expect(defaultRerunFrom(sequence, history)).toBe('a');
    const { plan, reuse } = planRerun(sequence, 'r1', history, 'd');
    expect(reuse.succeeded).toEqual([]);
    expect(describeRerunSteps(plan)).toEqual([
      'a: runs again (its compensation ran in run r1)',
      'b: runs again (comes after a, which runs again)',
      'c: runs again (its compensation ran in run r1)',
      'd: runs again (failed in run r1)',
    ]);
    expect(plan).toMatchObject({ from: 'a', requested: 'd' });
  });

  it('only the compensations that ran move the start: from before them is kept', () => {
    const history = [
      started('a'),
      succeeded('a', 1),
      started('b'),
      succeeded('b', 2),
      started('c'),
      succeeded('c', 3),
      started('d'),
      failed('d'),
      started('c.compensate', 'compensate'),
      succeeded('c.compensate', undefined, 'compensate'),
    ];
    const { plan, reuse } = planRerun(sequence, 'r1', history, 'd');
    expect(plan).toMatchObject({ from: 'c', requested: 'd', rerun: ['c', 'd'] });
    expect(reuse.succeeded.map((r) => r.taskId)).toEqual(['a', 'b']);
    expect(planRerun(sequence, 'r1', history, 'b').plan).toMatchObject({ from: 'b', rerun: ['b', 'c', 'd'] });
    expect(planRerun(sequence, 'r1', history, 'b').plan.requested).toBeUndefined();
    // Pure: planning twice gives the same plan.
    expect(planRerun(sequence, 'r1', history, 'd')).toEqual(planRerun(sequence, 'r1', history, 'd'));
  });
});
