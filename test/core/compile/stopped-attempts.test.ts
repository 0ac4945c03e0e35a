import { describe, expect, it } from 'vitest';
import type { Command, RunContext, RunEvent } from '../../../src/core/compile/types.js';
import { STOP_GRACE_MS } from '../../../src/core/compile/types.js';
import { sequence } from '../../../src/core/sequence/builder.js';
import type { Program, RunSnapshot, StepResult } from '../../../src/core/step.js';
import { createProgram } from '../../../src/core/step.js';

// An attempt the machine stops (task timeout, cancel, run timeout) may still be running: nothing else starts, and
// the run does not end, until it reports or its stop grace runs out.

const noop = () => undefined;
const succeeded = (taskId: string, attempt = 1): RunEvent => ({ type: 'TASK_SUCCEEDED', taskId, attempt, result: 'late result' });
const failed = (taskId: string, attempt = 1): RunEvent => ({ type: 'TASK_FAILED', taskId, attempt, error: { message: 'aborted' } });
const fired = (timerId: string): RunEvent => ({ type: 'TIMER_FIRED', timerId });
const cancel: RunEvent = { type: 'CANCEL', reason: 'operator' };
const brief = (commands: readonly Command[]) =>
  commands.map((c) => {
    switch (c.type) {
      case 'dispatch':
        return `dispatch ${c.taskId}#${c.attempt}`;
      case 'wait':
        return `wait ${c.taskId}#${c.attempt}`;
      case 'cancelTask':
        return `cancel ${c.taskId}#${c.attempt}`;
      case 'startTimer':
        return `start ${c.timerId} ${c.delayMs}`;
      case 'cancelTimer':
        return `stop ${c.timerId}`;
      case 'finish':
        return `finish ${c.outcome}`;
    }
  });

interface Driven {
  readonly snapshot: RunSnapshot;
  readonly log: string[][];
  readonly ignored: Array<string | undefined>;
  readonly values: unknown[];
}

function drive(program: Program, events: RunEvent[]): Driven {
  let r: StepResult = program.start({ runId: 'r1' });
  const log = [brief(r.commands)];
  const ignored: Array<string | undefined> = [];
  const values: unknown[] = [r.snapshot.value];
  for (const e of events) {
    r = program.step(r.snapshot, e);
    log.push(brief(r.commands));
    ignored.push(r.ignored);
    values.push(r.snapshot.value);
  }
  return { snapshot: r.snapshot, log, ignored, values };
}

describe('stopped attempts: a timeout, then a retry', () => {
  const program = createProgram(
    sequence('t')
      .then('a', noop, { timeout: '10s', retry: { maxAttempts: 3, backoff: { initial: '1s' } } })
      .then('b', noop)
      .build(),
  );

  it('arms a stop grace for the timed-out attempt, and its retry waits for the attempt to report', () => {
    const { log, values, snapshot } = drive(program, [fired('timeout:a:1'), fired('retry:a:1'), failed('a', 1)]);
    expect(log[1]).toEqual(['stop timeout:a:1', 'cancel a#1', `start stop:a:1 ${STOP_GRACE_MS}`, 'start retry:a:1 1000']);
    // The retry comes due while attempt 1 is still running: nothing is dispatched.
    expect(log[2]).toEqual(['stop retry:a:1']);
    expect(values[2]).toEqual({ main: { a: 'waiting' } });
    // Attempt 1's own report ends the wait: attempt 2 starts only now.
    expect(log[3]).toEqual(['stop stop:a:1', 'dispatch a#2', 'start timeout:a:2 10000']);
    expect(snapshot.context.stopping).toBeNull();
    expect(snapshot.context.failures).toEqual({ a: 1 });
  });

  it('retries as soon as the backoff ends when the stopped attempt reported before it', () => {
    const { log, values } = drive(program, [fired('timeout:a:1'), failed('a', 1), fired('retry:a:1')]);
    expect(log[2]).toEqual(['stop stop:a:1']);
    expect(values[2]).toEqual({ main: { a: 'backoff' } });
    expect(log[3]).toEqual(['stop retry:a:1', 'dispatch a#2', 'start timeout:a:2 10000']);
  });

  it('goes on without the stopped attempt when its stop grace runs out', () => {
    const { log, snapshot } = drive(program, [fired('timeout:a:1'), fired('retry:a:1'), fired('stop:a:1')]);
    expect(log[3]).toEqual(['dispatch a#2', 'start timeout:a:2 10000']);
    expect(snapshot.context.stopping).toBeNull();
  });

  it("ignores a report of the stopped attempt that comes after its grace, and any other attempt's report", () => {
    const waiting = drive(program, [fired('timeout:a:1'), fired('retry:a:1')]).snapshot;
    expect(program.step(waiting, succeeded('a', 2)).ignored).toBe('unexpected');
    expect(program.step(waiting, failed('b', 1)).ignored).toBe('unexpected');
    const after = drive(program, [fired('timeout:a:1'), fired('retry:a:1'), fired('stop:a:1')]).snapshot;
    const late = program.step(after, failed('a', 1));
    expect(late.ignored).toBe('stale');
    expect(late.snapshot).toBe(after);
    // Its stop timer, reported twice, changes nothing either.
    expect(program.step(after, fired('stop:a:1')).ignored).toBe('late');
  });

  it('records neither the result nor the completion a stopped attempt reports', () => {
    const { snapshot, log } = drive(program, [fired('timeout:a:1'), succeeded('a', 1)]);
    expect(log[2]).toEqual(['stop stop:a:1']);
    expect(snapshot.context.results).toEqual({});
    expect(snapshot.context.completed).toEqual([]);
    expect(snapshot.value).toEqual({ main: { a: 'backoff' } });
  });
});

describe('stopped attempts: cancel and the run timeout', () => {
  const program = createProgram(
    sequence('c', { timeout: '1m' })
      .then('a', noop, { compensate: noop })
      .then('b', noop, { timeout: '10s', retry: { maxAttempts: 2, backoff: { initial: '1s' } } })
      .finally('f', noop)
      .build(),
  );

  it('starts the compensation only once the cancelled attempt has reported', () => {
    const { log, values, snapshot } = drive(program, [succeeded('a'), cancel, failed('b'), succeeded('a.compensate'), succeeded('f')]);
    expect(log[2]).toEqual(['stop timeout:b:1', 'stop timeout:run', 'cancel b#1', `start stop:b:1 ${STOP_GRACE_MS}`]);
    expect(values[2]).toEqual({ compensating: { a: 'waiting' } });
    expect(log[3]).toEqual(['stop stop:b:1', 'dispatch a.compensate#1']);
    expect(log.at(-1)).toEqual(['finish cancelled']);
    expect(snapshot.context.reason).toBe('operator');
  });

  it('starts the finally tasks only once the attempt the run timeout stopped has ended', () => {
    const { log, values } = drive(program, [fired('timeout:run'), fired(`stop:a:1`)]);
    expect(log[1]).toEqual(['stop timeout:run', 'cancel a#1', `start stop:a:1 ${STOP_GRACE_MS}`]);
    expect(values[1]).toEqual({ finalizing: { f: 'waiting' } });
    expect(log[2]).toEqual(['dispatch f#1']);
  });

  it('cancelled while waiting for a stopped attempt, unwinds without cancelling anything again and still waits', () => {
    const { log, values } = drive(program, [succeeded('a'), fired('timeout:b:1'), fired('retry:b:1'), cancel, failed('b', 1)]);
    expect(values[3]).toEqual({ main: { b: 'waiting' } });
    expect(log[4]).toEqual(['stop timeout:run']);
    expect(values[4]).toEqual({ compensating: { a: 'waiting' } });
    expect(log[5]).toEqual(['stop stop:b:1', 'dispatch a.compensate#1']);
  });

  it('the run timeout while waiting also unwinds without a second cancel', () => {
    const { log, values } = drive(program, [succeeded('a'), fired('timeout:b:1'), fired('retry:b:1'), fired('timeout:run')]);
    expect(log[4]).toEqual(['stop timeout:run']);
    expect(values[4]).toEqual({ compensating: { a: 'waiting' } });
  });
});

describe('stopped attempts: the end of the run', () => {
  const program = createProgram(sequence('one').then('a', noop).build());

  it('does not end the run while the cancelled attempt may still be running', () => {
    const { log, values, snapshot } = drive(program, [cancel, failed('a')]);
    expect(log[1]).toEqual(['cancel a#1', `start stop:a:1 ${STOP_GRACE_MS}`]);
    expect(values[1]).toBe('draining');
    expect(log[2]).toEqual(['stop stop:a:1', 'finish cancelled']);
    expect(snapshot.status).toBe('done');
  });

  it('ends it when the stop grace runs out, and a report after that is late', () => {
    const { log, snapshot } = drive(program, [cancel, fired('stop:a:1')]);
    expect(log[2]).toEqual(['finish cancelled']);
    expect(program.step(snapshot, failed('a')).ignored).toBe('late');
  });

  it('waits for a finally task that timed out before the next one, and before the end', () => {
    const p = createProgram(
      sequence('fin').then('a', noop).finally('f1', noop, { timeout: '5s' }).finally('f2', noop, { timeout: '5s' }).build(),
    );
    const { log, values } = drive(p, [succeeded('a'), fired('timeout:f1:1'), failed('f1'), fired('timeout:f2:1'), succeeded('f2')]);
    expect(values[2]).toEqual({ finalizing: { f2: 'waiting' } });
    expect(log[3]).toEqual(['stop stop:f1:1', 'dispatch f2#1', 'start timeout:f2:1 5000']);
    expect(values[4]).toBe('draining');
    expect(log[5]).toEqual(['stop stop:f2:1', 'finish failed']);
  });

  it('waits for a task that timed out under continue before the next main task', () => {
    const p = createProgram(sequence('go-on').then('a', noop, { timeout: '5s', onFailure: 'continue' }).then('b', noop).build());
    const { log, values } = drive(p, [fired('timeout:a:1'), failed('a')]);
    expect(log[1]).toEqual(['stop timeout:a:1', 'cancel a#1', `start stop:a:1 ${STOP_GRACE_MS}`]);
    expect(values[1]).toEqual({ main: { b: 'waiting' } });
    expect(log[2]).toEqual(['stop stop:a:1', 'dispatch b#1']);
  });
});

describe('stopped attempts: persisted runs', () => {
  const program = createProgram(
    sequence('p')
      .then('a', noop, { timeout: '10s', retry: { maxAttempts: 2, backoff: { initial: '1s' } } })
      .then('b', noop)
      .build(),
  );

  it('round-trips a run that waits for a stopped attempt through persist and restore', () => {
    const waiting = drive(program, [fired('timeout:a:1'), fired('retry:a:1')]).snapshot;
    const restored = program.restore(JSON.parse(JSON.stringify(program.persist(waiting))));
    expect(restored.context.stopping).toEqual({ taskId: 'a', attempt: 1, phase: 'main' });
    expect(brief(program.step(restored, failed('a', 1)).commands)).toEqual(['stop stop:a:1', 'dispatch a#2', 'start timeout:a:2 10000']);
  });

  it('restores a context persisted before `stopping` existed as waiting for nothing', () => {
    // What a store or the run-state topic holds for a run recorded by an earlier lockstep: no `stopping` field.
    const persisted = JSON.parse(JSON.stringify(program.persist(drive(program, []).snapshot))) as {
      value: unknown;
      context: Partial<RunContext>;
      status: 'active';
    };
    delete persisted.context.stopping;
    const restored = program.restore(persisted as never);
    expect(restored.context.stopping).toBeNull();
    expect(brief(program.step(restored, succeeded('a')).commands)).toEqual(['stop timeout:a:1', 'dispatch b#1']);
    const retried = program.step(program.restore(persisted as never), failed('a'));
    expect(retried.snapshot.value).toEqual({ main: { a: 'backoff' } });
    expect(brief(program.step(retried.snapshot, fired('retry:a:1')).commands)).toEqual([
      'stop retry:a:1',
      'dispatch a#2',
      'start timeout:a:2 10000',
    ]);
  });
});
