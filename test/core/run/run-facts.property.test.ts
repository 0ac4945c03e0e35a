// Property suite: the facts a view reads from a run's history (no machine stepped) are the machine's own context,
// after every step of random runs of every pool program, reruns that reuse results included.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunContext } from '../../../src/core/compile/types.js';
import type { StateValue } from '../../../src/core/graph/model.js';
import type { RunEntry } from '../../../src/core/protocol/run-entry.js';
import { isFinalEntry } from '../../../src/core/protocol/run-entry.js';
import type { Reuse } from '../../../src/core/run/live-run.js';
import { advance, beginRun } from '../../../src/core/run/live-run.js';
import type { RunFacts } from '../../../src/core/run/run-facts.js';
import { nextFacts, onFailureIn, runFacts } from '../../../src/core/run/run-facts.js';
import { stateView } from '../../../src/core/run/state-view.js';
import type { Program } from '../../../src/core/step.js';
import { choicesArb, eventFor, programPool } from '../../support/run-state-fuzz.js';

const { programs } = programPool();

/** The fields of a context that facts stand for. */
const factsOf = (c: RunContext): RunFacts => ({
  current: c.current,
  stopping: c.stopping,
  attempts: c.attempts,
  completed: c.completed,
  continued: c.continued,
  error: c.error ? { taskId: c.error.taskId } : null,
  compensated: c.compensated,
  compensationFailed: c.compensationFailed,
  finallyFailed: c.finallyFailed,
  reason: c.reason,
});

/** The facts a machine context also has: the wait in progress is the history's alone. */
const contextFacts = ({ waiting: _, ...facts }: RunFacts): RunFacts => facts;

/** A reuse of the program's first tasks, as a rerun from task `from` would make. */
function reuseOf(program: Program, from: number): Reuse | undefined {
  const tasks = program.sequence.tasks.slice(0, Math.min(from, program.sequence.tasks.length - 1));
  if (tasks.length === 0) return undefined;
  return {
    succeeded: tasks.filter((t) => t.onFailure === 'stop').map((t) => ({ taskId: t.id, result: { reused: t.id } })),
    continued: tasks.filter((t) => t.onFailure === 'continue').map((t) => t.id),
  };
}

describe('run facts from history', () => {
  it('match the context of the machine after every step', () => {
    let steps = 0;
    fc.assert(
      fc.property(fc.nat(programs.length - 1), choicesArb(16), fc.nat(3), (i, choices, from) => {
        const program = programs[i]!;
        const onFailureOf = onFailureIn(program);
        let now = 1_000_000;
        const reuse = reuseOf(program, from);
        const began = beginRun(program, { runId: 'r', input: { n: 1 }, at: now, ...(reuse ? { reuse, rerunOf: 'earlier' } : {}) });
        const run = began.run;
        const history: RunEntry[] = [...began.entries];
        let facts = runFacts(history, onFailureOf);
        expect(contextFacts(facts)).toEqual(factsOf(run.snapshot.context));
        for (const [choice, pick] of choices) {
          if (history.some(isFinalEntry)) break;
          now += 1 + pick;
          const step = advance(run, eventFor(run, choice, pick), now);
          for (const entry of step.entries) facts = nextFacts(facts, entry, onFailureOf);
          history.push(...step.entries);
          expect(contextFacts(facts)).toEqual(factsOf(run.snapshot.context));
          // The view of the state is the same from facts as from the context.
          const value = run.snapshot.value as StateValue;
          expect(stateView(value, facts)).toEqual(stateView(value, run.snapshot.context));
          steps++;
        }
        expect(runFacts(history, onFailureOf)).toEqual(facts);
      }),
      { numRuns: 1_000, seed: 11 },
    );
    expect(steps).toBeGreaterThan(2_500);
  });

  it('reads a main task that failed for good as stopping the run when its sequence is not known', () => {
    const failed = {
      type: 'task.failed',
      runId: 'r',
      at: 1,
      task: 'a',
      attempt: 1,
      phase: 'main',
      durationMs: 1,
      error: { message: 'no' },
      willRetry: false,
    } as const;
    expect(nextFacts(runFacts([], onFailureIn(undefined)), failed as RunEntry, onFailureIn(undefined))).toMatchObject({
      error: { taskId: 'a' },
      reason: 'task a failed: no',
      continued: [],
    });
  });
});
