import { describe, expect, it } from 'vitest';
import type { Command, RunEvent } from '../../src/core/compile/types.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { RunSnapshot, StepResult } from '../../src/core/step.js';
import { createProgram } from '../../src/core/step.js';

const noop = () => undefined;
const succeeded = (taskId: string, attempt = 1, result?: unknown): RunEvent => ({
  type: 'TASK_SUCCEEDED',
  taskId,
  attempt,
  ...(result === undefined ? {} : { result }),
});
const failed = (taskId: string, attempt = 1, retriable?: boolean): RunEvent => ({
  type: 'TASK_FAILED',
  taskId,
  attempt,
  error: { message: 'x', ...(retriable === undefined ? {} : { retriable }) },
});
const fired = (timerId: string): RunEvent => ({ type: 'TIMER_FIRED', timerId });
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

function drive(program: ReturnType<typeof createProgram>, events: RunEvent[]) {
  let r: StepResult = program.start({ runId: 'r1', input: { q: 1 } });
  const log: string[][] = [brief(r.commands)];
  const ignored: Array<string | undefined> = [];
  for (const e of events) {
    r = program.step(r.snapshot, e);
    log.push(brief(r.commands));
    ignored.push(r.ignored);
  }
  return { snapshot: r.snapshot as RunSnapshot, log, ignored };
}

describe('step: pure transitions emit commands', () => {
  const program = createProgram(sequence('s').then('a', noop).then('b', noop).then('c', noop).build());

  it('dispatches the first task on start and the next one only on success', () => {
    const { log, snapshot } = drive(program, [succeeded('a', 1, { x: 1 }), succeeded('b'), succeeded('c')]);
    expect(log).toEqual([['dispatch a#1'], ['dispatch b#1'], ['dispatch c#1'], ['finish succeeded']]);
    expect(snapshot.status).toBe('done');
    expect(snapshot.context.results).toEqual({ a: { x: 1 } });
  });

  it('carries input, results and an idempotency key in each dispatch', () => {
    const start = program.start({ runId: 'r9', input: { q: 2 } });
    const next = program.step(start.snapshot, succeeded('a', 1, 'A'));
    expect(next.commands[0]).toMatchObject({
      type: 'dispatch',
      taskId: 'b',
      attempt: 1,
      idempotencyKey: 'r9:b:1',
      input: { q: 2 },
      results: { a: 'A' },
      phase: 'main',
    });
  });

  it('is pure: stepping the same snapshot twice gives the same result and leaves the input untouched', () => {
    const start = program.start({ runId: 'r1' });
    const before = JSON.stringify(start.snapshot.context);
    const one = program.step(start.snapshot, succeeded('a'));
    const two = program.step(start.snapshot, succeeded('a'));
    expect(JSON.stringify(one.snapshot.context)).toBe(JSON.stringify(two.snapshot.context));
    expect(brief(one.commands)).toEqual(brief(two.commands));
    expect(JSON.stringify(start.snapshot.context)).toBe(before);
  });

  it('rejects events for the wrong task or attempt without changing the snapshot', () => {
    const start = program.start({ runId: 'r1' });
    const wrongTask = program.step(start.snapshot, succeeded('b'));
    expect(wrongTask).toMatchObject({ ignored: 'unexpected', commands: [] });
    expect(wrongTask.snapshot).toBe(start.snapshot);
    const wrongAttempt = program.step(start.snapshot, succeeded('a', 2));
    expect(wrongAttempt.ignored).toBe('unexpected');
    const afterA = program.step(start.snapshot, succeeded('a'));
    expect(program.step(afterA.snapshot, succeeded('a')).ignored).toBe('duplicate');
    const done = drive(program, [succeeded('a'), succeeded('b'), succeeded('c')]).snapshot;
    expect(program.step(done, succeeded('c')).ignored).toBe('late');
    expect(program.step(done, { type: 'CANCEL' }).ignored).toBe('late');
  });

  it('round-trips through persist and restore', () => {
    const mid = drive(program, [succeeded('a', 1, 'A')]).snapshot;
    const restored = program.restore(JSON.parse(JSON.stringify(program.persist(mid))));
    const next = program.step(restored, succeeded('b'));
    expect(brief(next.commands)).toEqual(['dispatch c#1']);
    expect(next.snapshot.context.results).toEqual({ a: 'A' });
  });
});

describe('step: retry, backoff and timeouts as timer commands', () => {
  const program = createProgram(
    sequence('r')
      .then('a', noop, { timeout: '10s', retry: { maxAttempts: 3, backoff: { initial: '1s', factor: 3, max: '2s' } } })
      .then('b', noop, { retry: { maxAttempts: 2, backoff: { initial: '1m', jitter: 0.5 } } })
      .build(),
  );

  it('schedules exact backoff delays, capped at max, and stops after maxAttempts', () => {
    const { log, snapshot } = drive(program, [failed('a', 1), fired('retry:a:1'), failed('a', 2), fired('retry:a:2'), failed('a', 3)]);
    expect(log).toEqual([
      ['dispatch a#1', 'start timeout:a:1 10000'],
      ['stop timeout:a:1', 'start retry:a:1 1000'],
      ['stop retry:a:1', 'dispatch a#2', 'start timeout:a:2 10000'],
      ['stop timeout:a:2', 'start retry:a:2 2000'],
      ['stop retry:a:2', 'dispatch a#3', 'start timeout:a:3 10000'],
      ['stop timeout:a:3', 'finish failed'],
    ]);
    expect(snapshot.context.failures).toEqual({ a: 3 });
    expect(snapshot.context.reason).toBe('task a failed: x');
  });

  it('treats a timeout as a failed attempt and cancels the attempt', () => {
    const { log, snapshot } = drive(program, [fired('timeout:a:1')]);
    // The stopped attempt gets its stop grace: the next one waits for it (see stopped-attempts.test.ts).
    expect(log[1]).toEqual(['stop timeout:a:1', 'cancel a#1', 'start stop:a:1 15000', 'start retry:a:1 1000']);
    expect(snapshot.context.stopping).toEqual({ taskId: 'a', attempt: 1, phase: 'main' });
  });

  it('ignores a timer of an attempt that already ended', () => {
    const { ignored } = drive(program, [succeeded('a'), fired('timeout:a:1')]);
    expect(ignored).toEqual([undefined, 'late']);
  });

  it('derives jitter deterministically from the idempotency key', () => {
    const one = drive(program, [succeeded('a'), failed('b', 1)]).log[2]!;
    const two = drive(program, [succeeded('a'), failed('b', 1)]).log[2]!;
    expect(one).toEqual(two);
    const delay = Number(one[0]!.split(' ')[2]);
    expect(delay).toBeGreaterThanOrEqual(30_000);
    expect(delay).toBeLessThanOrEqual(60_000);
  });

  it('does not retry a non-retriable failure', () => {
    const { log } = drive(program, [failed('a', 1, false)]);
    expect(log[1]).toEqual(['stop timeout:a:1', 'finish failed']);
  });

  it('re-dispatches an interrupted attempt as the next attempt without using a retry', () => {
    const { log, snapshot } = drive(program, [{ type: 'TASK_INTERRUPTED', taskId: 'a', attempt: 1 }]);
    expect(log[1]).toEqual(['stop timeout:a:1', 'dispatch a#2', 'start timeout:a:2 10000']);
    expect(snapshot.context.failures).toEqual({});
  });
});

describe('step: unwinding', () => {
  const program = createProgram(
    sequence('u')
      .then('a', noop, { compensate: noop })
      .then('b', noop, { onFailure: 'continue', compensate: noop })
      .then('c', noop, { compensate: noop })
      .then('d', noop)
      .finally('f', noop)
      .build(),
  );

  it('compensates completed tasks in reverse, skipping failed ones, then runs finally', () => {
    const { log } = drive(program, [
      succeeded('a'),
      failed('b'),
      succeeded('c'),
      failed('d'),
      succeeded('c.compensate'),
      succeeded('a.compensate'),
      succeeded('f'),
    ]);
    expect(log.flat()).toEqual([
      'dispatch a#1',
      'dispatch b#1',
      'dispatch c#1',
      'dispatch d#1',
      'dispatch c.compensate#1',
      'dispatch a.compensate#1',
      'dispatch f#1',
      'finish failed',
    ]);
  });

  it('cancel stops the task in flight, then unwinds with outcome cancelled', () => {
    const { log, snapshot } = drive(program, [
      succeeded('a'),
      { type: 'CANCEL', reason: 'stop' },
      failed('b'),
      succeeded('a.compensate'),
      succeeded('f'),
    ]);
    // The compensation starts once the cancelled attempt has reported.
    expect(log[2]).toEqual(['cancel b#1', 'start stop:b:1 15000']);
    expect(log[3]).toEqual(['stop stop:b:1', 'dispatch a.compensate#1']);
    expect(log.at(-1)).toEqual(['finish cancelled']);
    expect(snapshot.context.reason).toBe('stop');
  });

  it('a cancel while unwinding changes nothing', () => {
    const { ignored } = drive(program, [succeeded('a'), { type: 'CANCEL' }, { type: 'CANCEL' }]);
    expect(ignored).toEqual([undefined, undefined, 'late']);
  });
});

describe('step: the last task failing under continue', () => {
  const program = createProgram(
    sequence('c').then('a', noop).then('b', noop, { onFailure: 'continue', timeout: '1s' }).finally('f', noop).build(),
  );

  it('ends the run succeeded, with the task listed as failed', () => {
    const { log, snapshot } = drive(program, [succeeded('a'), failed('b'), succeeded('f')]);
    expect(log.at(-1)).toEqual(['finish succeeded']);
    expect(snapshot.value).toBe('succeeded');
    expect(snapshot.context.continued).toEqual(['b']);
  });

  it('also when it times out', () => {
    const { log } = drive(program, [succeeded('a'), fired('timeout:b:1'), failed('b'), succeeded('f')]);
    expect(log.at(-1)).toEqual(['finish succeeded']);
  });
});
