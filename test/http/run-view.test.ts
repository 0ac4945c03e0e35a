import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/compile/types.js';
import type { StateValue } from '../../src/core/graph/model.js';
import { stateView } from '../../src/core/run/state-view.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import type { RunSnapshot } from '../../src/core/step.js';
import { createProgram } from '../../src/core/step.js';
import { finallyViews, taskViews } from '../../src/http/run-view.js';

// `a` has a compensation, `b` retries once after 1 s, `c` fails the run; `d` never runs; `f` always runs.
const program = createProgram(
  loadSequenceText(
    [
      'name: views',
      'version: 1',
      'tasks:',
      '  - { id: a, run: "true", compensate: { run: "true" } }',
      '  - { id: b, run: "true", retry: { maxAttempts: 2, backoff: { initial: 1s } } }',
      '  - { id: c, run: "true" }',
      '  - { id: d, run: "true", compensate: { run: "true" } }',
      'finally:',
      '  - { id: f, run: "true" }',
      '',
    ].join('\n'),
  ),
);

/** The statuses (and attempts) of every task after each event, as the run view shows them. */
function statuses(snapshot: RunSnapshot): Record<string, string> {
  const ended = snapshot.status === 'done';
  const state = stateView(snapshot.value as StateValue, snapshot.context);
  const out: Record<string, string> = {};
  for (const t of taskViews(program, snapshot.context, state, [], ended)) {
    out[t.id] = `${t.status} ${t.attempts}`;
    if (t.compensation) out[t.compensation.id] = `${t.compensation.status} ${t.compensation.attempts}`;
  }
  for (const t of finallyViews(program, snapshot.context, state, ended)) out[t.id] = `${t.status} ${t.attempts}`;
  return out;
}

describe('the run view of tasks, compensations and finally tasks', () => {
  it('follows a run through a retry, a failure, a compensation and its finally task', () => {
    let snapshot = program.start({ runId: 'r1' }).snapshot;
    const step = (event: RunEvent) => {
      snapshot = program.step(snapshot, event).snapshot;
      return statuses(snapshot);
    };
    const failed = (taskId: string, attempt: number): RunEvent => ({ type: 'TASK_FAILED', taskId, attempt, error: { message: 'no' } });
    const ok = (taskId: string, attempt: number): RunEvent => ({ type: 'TASK_SUCCEEDED', taskId, attempt });

    expect(statuses(snapshot)).toEqual({
      a: 'running 1',
      'a.compensate': 'pending 0',
      b: 'pending 0',
      c: 'pending 0',
      d: 'pending 0',
      'd.compensate': 'pending 0',
      f: 'pending 0',
    });
    expect(step(ok('a', 1))).toMatchObject({ a: 'succeeded 1', b: 'running 1' });
    expect(step(failed('b', 1))).toMatchObject({ b: 'retrying 1' });
    expect(step({ type: 'TIMER_FIRED', timerId: 'retry:b:1' })).toMatchObject({ b: 'running 2' });
    expect(step(ok('b', 2))).toMatchObject({ b: 'succeeded 2', c: 'running 1' });
    expect(step(failed('c', 1))).toMatchObject({ c: 'failed 1', 'a.compensate': 'running 1', a: 'succeeded 1', d: 'pending 0' });
    expect(step(ok('a.compensate', 1))).toMatchObject({ a: 'compensated 1', 'a.compensate': 'succeeded 1', f: 'running 1' });
    expect(step(ok('f', 1))).toEqual({
      a: 'compensated 1',
      'a.compensate': 'succeeded 1',
      b: 'succeeded 2',
      c: 'failed 1',
      d: 'skipped 0',
      'd.compensate': 'skipped 0',
      f: 'succeeded 1',
    });
    expect(snapshot.value).toBe('failed');
  });

  it('marks a failed finally task failed', () => {
    let snapshot = program.start({ runId: 'r2' }).snapshot;
    for (const event of [
      { type: 'TASK_SUCCEEDED', taskId: 'a', attempt: 1 },
      { type: 'TASK_SUCCEEDED', taskId: 'b', attempt: 1 },
      { type: 'TASK_SUCCEEDED', taskId: 'c', attempt: 1 },
      { type: 'TASK_SUCCEEDED', taskId: 'd', attempt: 1 },
      { type: 'TASK_FAILED', taskId: 'f', attempt: 1, error: { message: 'disk full' } },
    ] as RunEvent[])
      snapshot = program.step(snapshot, event).snapshot;
    expect(statuses(snapshot)).toMatchObject({ a: 'succeeded 1', d: 'succeeded 1', 'd.compensate': 'skipped 0', f: 'failed 1' });
  });
});
