import { describe, expect, it } from 'vitest';
import { STOP_GRACE_MS } from '../../src/core/compile/types.js';
import type { RunEvent } from '../../src/core/compile/types.js';
import type { StateValue } from '../../src/core/graph/model.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { createProgram } from '../../src/core/step.js';
import { entriesBetween } from '../../src/http/state-history.js';
import { stateView } from '../../src/http/run-view.js';
import { advance, beginRun } from '../../src/core/run/live-run.js';
import { runStateOf } from '../../src/runtime/journals/kafka/run-state-topic.js';

const seq = sequence('one').then('a', () => 1).then('b', () => 2).build();

/** The run-state records a Kafka orchestrator writes as the events apply, one per event. */
function records(events: ReadonlyArray<[RunEvent, number]>) {
  const { run } = beginRun(createProgram(seq), { runId: 'r', at: 0 });
  const out = [runStateOf(run, {}, 0)];
  for (const [event, at] of events) {
    const step = advance(run, event, at);
    const final = step.entries.find((e) => e.type === 'run.cancelled');
    out.push(runStateOf(run, final?.type === 'run.cancelled' ? { final } : {}, at));
  }
  return out;
}

describe('Kafka-mode history from run-state records: stopped attempts', () => {
  it('derives task.stopped when the attempt a cancel stopped has reported, before the run ends', () => {
    const [start, cancelled, ended] = records([[{ type: 'CANCEL' }, 100], [{ type: 'TASK_FAILED', taskId: 'a', attempt: 1, error: { message: 'aborted' } }, 900]]);
    expect(stateView(cancelled!.snapshot.value as StateValue, cancelled!.snapshot.context as never)).toMatchObject({
      node: 'draining', stopping: { task: 'a', attempt: 1, phase: 'main' },
    });
    expect(entriesBetween(start, cancelled!, new Set()).map((e) => e.type)).toEqual(['run.cancelling']);
    expect(entriesBetween(cancelled, ended!, new Set())).toMatchObject([
      { type: 'task.stopped', task: 'a', attempt: 1, how: 'reported', durationMs: 900 },
      { type: 'run.cancelled' },
    ]);
  });

  it('tells a stop grace that ran out by the time the record was written', () => {
    const [, cancelled, ended] = records([[{ type: 'CANCEL' }, 100], [{ type: 'TIMER_FIRED', timerId: 'stop:a:1' }, 100 + STOP_GRACE_MS]]);
    expect(entriesBetween(cancelled, ended!, new Set())[0]).toMatchObject({ type: 'task.stopped', how: 'grace-expired' });
  });
});

describe('Kafka-mode history from run-state records: partial records', () => {
  it('derives a started and a failed run from the record of a run refused at start, without throwing', async () => {
    const { rejectedRunState } = await import('../../src/runtime/journals/kafka/run-state-topic.js');
    const start = { v: 1, type: 'run.start', id: 'e1', runId: 'r-refused', time: new Date(0).toISOString(), payload: { sequence: 'nope', input: { a: 1 } } } as never;
    const state = rejectedRunState(start, 'unknown sequence "nope"', 5);
    expect(entriesBetween(undefined, state, new Set()).map((e) => e.type)).toEqual(['run.started', 'run.failed']);
  });
});
