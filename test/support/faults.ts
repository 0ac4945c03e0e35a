import type { AnyStateMachine } from 'xstate';
import { createMachine } from 'xstate';
import { inertScope } from '../../src/core/compile/inert-scope.js';
import type { RunMachine } from '../../src/core/compile/machine.js';
import { compile } from '../../src/core/compile/machine.js';
import type { Command, Outcome, RunEvent } from '../../src/core/compile/types.js';
import { idempotencyKey } from '../../src/core/compile/types.js';
import type { Sequence } from '../../src/core/sequence/types.js';
import type { Program, RunSnapshot, StepResult } from '../../src/core/step.js';
import { createProgram } from '../../src/core/step.js';
import type { Faults } from '../../src/testing/path-session.js';

/**
 * Planted bugs: each wraps (or replaces) the program the orchestrator steps, or the executor the worker calls,
 * with one that gets a failure path wrong the way real bugs do. lockstep test must catch every one.
 */

/** A program around any machine: the same stepping as `createProgram`, for faulty copies of the machine. */
function programFrom(sequence: Sequence, machine: AnyStateMachine): Program {
  let sink: Command[] = [];
  const scope = inertScope(machine as unknown as RunMachine, (command) => sink.push(command));
  const collect = (run: () => unknown): [RunSnapshot, Command[]] => {
    sink = [];
    const snapshot = run() as unknown as RunSnapshot;
    return [snapshot, sink];
  };
  const real = createProgram(sequence);
  return {
    ...real,
    machine: machine as unknown as RunMachine,
    start(input) {
      const [snapshot, commands] = collect(() => machine.getInitialSnapshot(scope, input));
      return { snapshot, commands };
    },
    step(snapshot, event) {
      const [next, commands] = collect(() => machine.transition(snapshot as never, event, scope));
      if (next === snapshot) return { snapshot, commands: [], ignored: 'duplicate' };
      return { snapshot: next, commands };
    },
    restore: (persisted) => machine.resolveState({ value: persisted.value as never, context: persisted.context }) as unknown as RunSnapshot,
  };
}

/** Wraps `step` (and `start`) of a program. */
function wrapStep(
  program: Program,
  wrap: (result: StepResult, snapshot: RunSnapshot | undefined, event: RunEvent | undefined) => StepResult,
): Program {
  return {
    ...program,
    start: (input) => wrap(program.start(input), undefined, undefined),
    step: (snapshot, event) => wrap(program.step(snapshot, event), snapshot, event),
  };
}

/** Bug: when the run's outcome is `outcome`, it ends at once instead of running its finally tasks. */
function skipFinallyWhen(outcome: Outcome) {
  return (program: Program): Program =>
    wrapStep(program, (result) => {
      const ctx = result.snapshot.context;
      const at = result.commands.findIndex((c) => c.type === 'dispatch' && c.phase === 'finally');
      if (result.ignored || at === -1 || ctx.outcome !== outcome) return result;
      const snapshot = program.restore({ value: outcome, context: { ...ctx, current: null }, status: 'done' });
      const finish: Command = { type: 'finish', runId: ctx.runId, outcome, reason: ctx.reason ?? outcome };
      return { snapshot, commands: [...result.commands.slice(0, at), finish] };
    });
}

/** Bug: compensations run in definition order instead of reverse order (a faulty copy of the machine config). */
function compensateForwards(program: Program): Program {
  const sequence = program.sequence;
  const right = compile(sequence) as unknown as AnyStateMachine;
  const forwards = compile({ ...sequence, tasks: [...sequence.tasks].reverse() }) as unknown as AnyStateMachine;
  const config = right.config as { states: Record<string, unknown> };
  const compensating = (forwards.config as { states: Record<string, unknown> }).states.compensating;
  if (!compensating) return program;
  const machine = createMachine({ ...config, states: { ...config.states, compensating } } as never, right.implementations as never);
  return programFrom(sequence, machine);
}

/** Bug: a task is retried one time more than its maxAttempts allows. */
function retryOnceMore(program: Program): Program {
  const s = program.sequence;
  return createProgram({ ...s, tasks: s.tasks.map((t) => ({ ...t, retry: { ...t.retry, maxAttempts: t.retry.maxAttempts + 1 } })) });
}

/** Bug: a completion the machine ignores is applied to whatever attempt is in flight (matching by run only). */
function applyStrayCompletions(program: Program): Program {
  return wrapStep(program, (result, snapshot, event) => {
    const current = snapshot?.context.current;
    if (!result.ignored || !snapshot || !current || (event?.type !== 'TASK_SUCCEEDED' && event?.type !== 'TASK_FAILED')) return result;
    return program.step(snapshot, { ...event, taskId: current.taskId, attempt: current.attempt });
  });
}

/** Bug: dispatching a main task also dispatches the next one ("prefetch"), before the first has finished. */
function prefetchNextTask(program: Program): Program {
  const tasks = program.sequence.tasks;
  return wrapStep(program, (result) => {
    const extra = result.commands.flatMap((c) => {
      if (c.type !== 'dispatch' || c.phase !== 'main' || c.attempt !== 1) return [];
      const next = tasks[tasks.findIndex((t) => t.id === c.taskId) + 1];
      return next ? [{ ...c, taskId: next.id, idempotencyKey: idempotencyKey(c.runId, next.id, 1) }] : [];
    });
    return extra.length === 0 ? result : { ...result, commands: [...result.commands, ...extra] };
  });
}

/** Bug: the timeout of a retry (attempt 2 and later) is never armed, so a hung retry hangs forever. */
function loseRetryTimeouts(program: Program): Program {
  return wrapStep(program, (result) => ({
    ...result,
    commands: result.commands.filter((c) => !(c.type === 'startTimer' && /^timeout:.+:(?:[2-9]|\d{2,})$/.test(c.timerId))),
  }));
}

/**
 * Bug: the run does not wait for an attempt it stopped (a timeout, a cancel): the next attempt, the compensations
 * or the run's end come at once, while the stopped attempt may still be running (lockstep before it waited).
 */
function forgetStoppedAttempts(program: Program): Program {
  return wrapStep(program, (result, snapshot) => {
    const stopping = result.snapshot.context.stopping;
    if (result.ignored || !stopping || snapshot?.context.stopping) return result;
    const forgotten = program.step(result.snapshot, { type: 'TASK_INTERRUPTED', taskId: stopping.taskId, attempt: stopping.attempt });
    return { snapshot: forgotten.snapshot, commands: [...result.commands, ...forgotten.commands] };
  });
}

/** Bug (in the worker): a finally task's attempt is executed twice, as a redelivered dispatch would without de-duplication. */
const executeFinallyTwice: NonNullable<Faults['executor']> = (execute) => (task, signal) => {
  if (task.payload.phase === 'finally') void execute(task, signal).catch(() => {});
  return execute(task, signal);
};

/** Bug: a wait task's attempt also dispatches the task after it, as if waiting meant "in the background". */
function runPastWaits(program: Program): Program {
  const tasks = program.sequence.tasks;
  return wrapStep(program, (result) => {
    const extra = result.commands.flatMap((c): Command[] => {
      if (c.type !== 'wait' || c.phase !== 'main') return [];
      const next = tasks[tasks.findIndex((t) => t.id === c.taskId) + 1];
      if (!next) return [];
      const { runId } = c;
      const key = idempotencyKey(runId, next.id, 1);
      return [{ type: 'dispatch', runId, taskId: next.id, attempt: 1, phase: 'main', idempotencyKey: key, input: undefined, results: {} }];
    });
    return extra.length === 0 ? result : { ...result, commands: [...result.commands, ...extra] };
  });
}

/** Bug: a signal wait's attempt records that it waits, but not until when (its expiry lost on the way). */
function loseWaitExpiry(program: Program): Program {
  return wrapStep(program, (result) => ({
    ...result,
    commands: result.commands.map((c) => (c.type === 'wait' && c.for === 'signal' ? { ...c, timerId: undefined } : c)),
  }));
}

/** The planted bugs, by name. */
export const plantedBugs = {
  'finally skipped on cancel': { program: skipFinallyWhen('cancelled') },
  'finally skipped on failure': { program: skipFinallyWhen('failed') },
  'compensation order reversed': { program: compensateForwards },
  'retry beyond maxAttempts': { program: retryOnceMore },
  'duplicate completion applied twice': { program: applyStrayCompletions },
  'task dispatched before its predecessor finished': { program: prefetchNextTask },
  "a retry's timeout lost": { program: loseRetryTimeouts },
  'finally task executed twice': { executor: executeFinallyTwice },
  'next attempt dispatched while the stopped one still runs': { program: forgetStoppedAttempts },
  'the task after a wait started while it waits': { program: runPastWaits },
  "a signal wait's expiry not recorded": { program: loseWaitExpiry },
} as const satisfies Record<string, Faults>;
