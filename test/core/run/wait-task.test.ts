import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../../src/core/compile/types.js';
import type { RunEntry } from '../../../src/core/protocol/run-entry.js';
import { assertInputWithinLimits } from '../../../src/core/run/data-limits.js';
import type { LiveRun } from '../../../src/core/run/live-run.js';
import { advance, beginRun, replay } from '../../../src/core/run/live-run.js';
import { NO_FACTS, nextFacts, onFailureIn } from '../../../src/core/run/run-facts.js';
import { signalEvent, signalProblems, signalStanding } from '../../../src/core/run/signal.js';
import { sequenceText } from '../../../src/core/sequence/sequence-text.js';
import { loadSequenceText, validateSequence } from '../../../src/core/sequence/validate.js';
import { createProgram } from '../../../src/core/step.js';

const APPROVAL = `
name: approval
tasks:
  - id: build
    run: echo build
  - id: approve
    wait:
      signal: true
      schema:
        type: object
        properties: { approver: { type: string, minLength: 1 } }
        required: [approver]
    timeout: 48h
  - id: deploy
    run: echo deploy
    compensate: { run: echo undeploy }
  - id: announce
    run: echo done
`;

const T0 = Date.parse('2026-12-04T10:00:00Z');
const H = 3_600_000;

function begin(text: string, input?: unknown) {
  const program = createProgram(loadSequenceText(text));
  const began = beginRun(program, { runId: 'r1', at: T0, ...(input === undefined ? {} : { input }) });
  const history: RunEntry[] = [...began.entries];
  const step = (event: RunEvent, at: number) => {
    const a = advance(began.run, event, at);
    history.push(...a.entries);
    return a;
  };
  return { program, run: began.run, history, step };
}

const types = (entries: readonly RunEntry[]) => entries.map((e) => e.type);
const stateOf = (run: LiveRun) => JSON.stringify(run.snapshot.value);

describe('a signal wait', () => {
  it('waits after the task before it, records what it waits for and until when, and goes on with the data', () => {
    const { run, history, step } = begin(APPROVAL);
    const afterBuild = step({ type: 'TASK_SUCCEEDED', taskId: 'build', attempt: 1 }, T0 + 1_000);
    expect(types(afterBuild.entries)).toEqual(['task.succeeded', 'task.started', 'task.waiting']);
    expect(afterBuild.commands.some((c) => c.type === 'dispatch')).toBe(false);
    expect(afterBuild.entries[2]).toMatchObject({ task: 'approve', for: 'signal', until: T0 + 1_000 + 48 * H });
    expect(signalStanding(run.snapshot.context, 'approve')).toEqual({ kind: 'waiting', attempt: 1 });

    const signal = { taskId: 'approve', data: { approver: 'ana' } };
    expect(signalProblems(run.program, signal)).toEqual([]);
    const applied = step(signalEvent(run.snapshot.context, signal), T0 + 2_000);
    expect(applied.entries[0]).toMatchObject({ type: 'task.succeeded', task: 'approve', result: { approver: 'ana' } });
    expect(applied.commands.find((c) => c.type === 'dispatch')).toMatchObject({
      taskId: 'deploy',
      results: { approve: { approver: 'ana' } },
    });

    // A second signal is a duplicate: ignored, recorded as such.
    const again = step(signalEvent(run.snapshot.context, signal), T0 + 3_000);
    expect(again.ignored).toBe('duplicate');
    const facts = history.reduce((f, e) => nextFacts(f, e, onFailureIn(run.program)), NO_FACTS);
    expect(facts.completed).toEqual(['build', 'approve']);
    expect(facts.waiting).toBeNull();
  });

  it('refuses data that does not match its schema, with every problem and its path', () => {
    const { program } = begin(APPROVAL);
    expect(signalProblems(program, { taskId: 'approve', data: { approver: '' } })).toEqual([
      { path: 'data.approver', message: expect.stringContaining('>=1') },
    ]);
    expect(signalProblems(program, { taskId: 'approve', data: 7 })[0]?.path).toBe('data');
    expect(signalProblems(program, { taskId: 'build' })).toEqual([{ path: 'taskId', message: 'task "build" does not wait for a signal' }]);
    expect(signalProblems(program, { taskId: 'nope' })[0]?.message).toContain('has no task "nope"');
    expect(signalProblems(program, { taskId: 'approve', reject: '' })).toEqual([
      { path: 'reject', message: 'expected a reason: a non-empty string' },
    ]);
  });

  it('requires the keys a schema requires, listed under properties or not', () => {
    const { program } = begin(
      APPROVAL.replace(
        'properties: { approver: { type: string, minLength: 1 } }\n        required: [approver]',
        'required: [approver, ticket]',
      ),
    );
    expect(signalProblems(program, { taskId: 'approve', data: { approver: 'x' } }).map((p) => p.path)).toEqual(['data.ticket']);
    expect(signalProblems(program, { taskId: 'approve', data: { approver: 'x', ticket: null } })).toEqual([]);
  });

  it('fails for good on a rejection, and the compensations run', () => {
    const { run, step } = begin(APPROVAL.replace('    timeout: 48h', '    timeout: 48h\n    retry: { maxAttempts: 3 }'));
    step({ type: 'TASK_SUCCEEDED', taskId: 'build', attempt: 1 }, T0);
    const rejected = step(signalEvent(run.snapshot.context, { taskId: 'approve', reject: 'not today' }), T0 + 1);
    expect(rejected.entries[0]).toMatchObject({
      type: 'task.failed',
      willRetry: false,
      error: { message: 'rejected: not today', code: 'SIGNAL_REJECTED', retriable: false },
    });
    // deploy never started, so nothing to compensate: the run fails.
    expect(rejected.finished).toBe('failed');
  });

  it('fails on its timeout; a retry asks again, with a new expiry', () => {
    const { run, step } = begin(
      APPROVAL.replace('    timeout: 48h', '    timeout: 1h\n    retry: { maxAttempts: 2, backoff: { initial: 1s } }'),
    );
    step({ type: 'TASK_SUCCEEDED', taskId: 'build', attempt: 1 }, T0);
    const timedOut = step({ type: 'TIMER_FIRED', timerId: 'timeout:approve:1' }, T0 + H);
    expect(timedOut.entries[0]).toMatchObject({
      type: 'task.failed',
      willRetry: true,
      error: { code: 'TASK_TIMEOUT', message: 'no signal within 3600000ms' },
    });
    const asked = step({ type: 'TIMER_FIRED', timerId: 'retry:approve:1' }, T0 + H + 1_000);
    expect(asked.entries.map((e) => e.type)).toEqual(['timer.fired', 'task.started', 'task.waiting']);
    expect(asked.entries[2]).toMatchObject({ attempt: 2, until: T0 + 2 * H + 1_000 });
    // The first attempt's signal, late, is not the second's.
    expect(signalStanding(run.snapshot.context, 'approve')).toEqual({ kind: 'waiting', attempt: 2 });
    const last = step({ type: 'TIMER_FIRED', timerId: 'timeout:approve:2' }, T0 + 3 * H);
    expect(last.finished).toBe('failed');
  });

  it('goes on past its timeout under onTimeout: continue', () => {
    const { run, history, step } = begin(APPROVAL.replace('    timeout: 48h', '    timeout: 1h\n    onTimeout: continue'));
    step({ type: 'TASK_SUCCEEDED', taskId: 'build', attempt: 1 }, T0);
    const timedOut = step({ type: 'TIMER_FIRED', timerId: 'timeout:approve:1' }, T0 + H);
    expect(timedOut.commands.find((c) => c.type === 'dispatch')).toMatchObject({ taskId: 'deploy' });
    expect(run.snapshot.context.continued).toEqual(['approve']);
    const facts = history.reduce((f, e) => nextFacts(f, e, onFailureIn(run.program)), NO_FACTS);
    expect(facts).toMatchObject({ continued: ['approve'], current: { taskId: 'deploy' }, stopping: null, error: null });
  });

  it('is left at once by a cancel: nothing runs, so nothing is stopped', () => {
    const { step } = begin(APPROVAL);
    step({ type: 'TASK_SUCCEEDED', taskId: 'build', attempt: 1 }, T0);
    const cancelled = step({ type: 'CANCEL', reason: 'no' }, T0 + 1);
    expect(cancelled.commands.some((c) => c.type === 'cancelTask')).toBe(false);
    expect(cancelled.finished).toBe('cancelled');
  });

  it('ignores a signal that comes before the run reaches it', () => {
    const { run, step } = begin(APPROVAL);
    expect(signalStanding(run.snapshot.context, 'approve')).toEqual({ kind: 'not-yet' });
    expect(step(signalEvent(run.snapshot.context, { taskId: 'approve', data: { approver: 'x' } }), T0).ignored).toBe('unexpected');
  });

  it('keeps its expiry when the run is rebuilt from its history', () => {
    const { program, history, step } = begin(APPROVAL);
    step({ type: 'TASK_SUCCEEDED', taskId: 'build', attempt: 1 }, T0 + 5);
    const rebuilt = replay(program, history);
    expect([...rebuilt.timers]).toEqual([['timeout:approve:1', T0 + 5 + 48 * H]]);
    expect(stateOf(rebuilt)).toContain('approve');
  });
});

describe('a delay', () => {
  const DELAY = `
name: reminder
tasks:
  - id: cool-off
    wait: { duration: 2h }
  - id: remind
    wait: { until: input.remindAt }
  - id: send
    run: echo send
`;

  it('succeeds when its time comes, and a delay until an input field is due at that field', () => {
    const { run, step } = begin(DELAY, { remindAt: '2026-12-05T09:00:00Z' });
    expect([...run.timers]).toEqual([['wait:cool-off:1', T0 + 2 * H]]);
    const cooled = step({ type: 'TIMER_FIRED', timerId: 'wait:cool-off:1' }, T0 + 2 * H);
    expect(types(cooled.entries)).toEqual(['task.succeeded', 'task.started', 'task.waiting']);
    expect(cooled.entries[2]).toMatchObject({ task: 'remind', for: 'time', until: Date.parse('2026-12-05T09:00:00Z') });
    const due = step({ type: 'TIMER_FIRED', timerId: 'wait:remind:1' }, Date.parse('2026-12-05T09:00:00Z'));
    expect(due.commands.find((c) => c.type === 'dispatch')).toMatchObject({ taskId: 'send' });
  });

  it('refuses a run whose input lacks the time it waits until', () => {
    const sequence = loadSequenceText(DELAY);
    expect(() => assertInputWithinLimits(sequence, { remindAt: 'tomorrow' })).toThrow(
      'input.remindAt: task remind waits until this time: expected an ISO 8601 time with an offset, like "2026-12-24T09:00:00Z", got "tomorrow"',
    );
    expect(() => assertInputWithinLimits(sequence, {})).toThrow('input.remindAt');
  });

  it('is due at a time before the run started at once (a run resumed after its due time goes on)', () => {
    const { run } = begin(DELAY.replace('wait: { duration: 2h }', 'wait: { until: "2026-12-01T00:00:00Z" }'), {
      remindAt: '2026-12-05T09:00:00Z',
    });
    expect(run.timers.get('wait:cool-off:1')).toBe(Date.parse('2026-12-01T00:00:00Z'));
  });
});

describe('validating a wait', () => {
  const problems = (tasks: string) => {
    const result = validateSequence({ name: 's', tasks: JSON.parse(tasks) });
    return result.success ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
  };

  it('asks a signal wait to say how long it waits', () => {
    expect(problems('[{"id":"a","wait":{"signal":true}}]')).toEqual([
      'tasks[0].timeout: a signal wait must say how long it waits: a timeout like "48h", or "never" to wait for ever',
    ]);
    expect(problems('[{"id":"a","wait":{"signal":true},"timeout":"never"}]')).toEqual([]);
  });

  it('reports each misuse with its path', () => {
    expect(problems('[{"id":"a","run":"x","timeout":"never","onTimeout":"continue"}]')).toEqual([
      'tasks[0].onTimeout: onTimeout applies only to a signal wait (wait: { signal: true })',
      'tasks[0].timeout: "never" applies only to a signal wait (wait: { signal: true })',
    ]);
    expect(problems('[{"id":"a","wait":{"duration":"1h"},"timeout":"2h","run":"x"}]')).toEqual([
      'tasks[0].run: a wait task does nothing but wait: "run" is not allowed with "wait"',
      'tasks[0].timeout: a delay ends by itself: "timeout" is not allowed with wait.duration',
    ]);
    expect(problems('[{"id":"a","wait":{}}]')).toEqual([
      'tasks[0].wait: expected exactly one of "signal", "duration" or "until", got none',
    ]);
    expect(problems('[{"id":"a","wait":{"until":"tomorrow"}}]')[0]).toMatch(/^tasks\[0\]\.wait\.until: expected an ISO 8601 time/);
    expect(problems('[{"id":"a","wait":{"signal":true,"schema":{"type":"nonsense"}},"timeout":"1h"}]')[0]).toMatch(
      /^tasks\[0\]\.wait\.schema: expected a JSON Schema lockstep can check/,
    );
  });

  it('keeps the wait in the structure other processes compile', () => {
    const sequence = loadSequenceText(APPROVAL.replace('    timeout: 48h', '    timeout: never\n    onTimeout: continue'));
    const again = loadSequenceText(sequenceText(sequence));
    expect(again.tasks[1]).toEqual(sequence.tasks[1]);
  });
});
