// The orchestrator reports each durable entry with the run's state value right after it, and the store keeps it:
// readers never step a machine to find a state. Here the states are checked against exactly that stepping.
import { describe, expect, it } from 'vitest';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { Sequence } from '../../src/core/sequence/types.js';
import { createProgram } from '../../src/core/step.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';
import type { StartRequest } from '../../src/runtime/orchestrator.js';

/** The state after each entry, found the slow way: stepping a fresh machine through the entries that carry events. */
function steppedStates(s: Sequence, history: readonly RunEntry[]): unknown[] {
  const program = createProgram(s);
  let snapshot: ReturnType<typeof program.start>['snapshot'] | undefined;
  return history.map((entry) => {
    if (entry.type === 'run.started') snapshot = program.start({ runId: entry.runId, input: entry.input }).snapshot;
    else if ('event' in entry && entry.type !== 'event.ignored') {
      const step = program.step(snapshot!, entry.event);
      if (!step.ignored) snapshot = step.snapshot;
    }
    return snapshot!.value;
  });
}

async function recorded(s: Sequence, request: Omit<StartRequest, 'sequence'> = {}) {
  const reported: Array<{ entry: RunEntry; state: unknown }> = [];
  const runtime = await createEmbeddedRuntime({ onEntry: (entry, state) => reported.push({ entry, state }) });
  try {
    runtime.register(s);
    const runId = await runtime.start({ sequence: s.name, ...request });
    await runtime.orchestrator.waitFor(runId);
    const stored = (await runtime.store.get(runId))!;
    return { runId, stored, reported };
  } finally {
    await runtime.close();
  }
}

describe('entry states', () => {
  let flaky = 0;
  const s = sequence('states')
    .then(
      'a',
      async () => {
        flaky++;
        if (flaky % 2 === 1) throw new Error('transient');
        return 'a';
      },
      { retry: { maxAttempts: 2, backoff: { initial: '10ms' } } },
    )
    .then('b', async () => 'b', { compensate: async () => 'undone' })
    .then('c', async () => {
      throw new Error('c broke');
    })
    .finally('f', async () => 'cleaned')
    .build();

  it("are the machine's state after each entry, through a retry, a compensation and a finally task", async () => {
    const { stored, reported } = await recorded(s);
    expect(stored.history.map((e) => e.type)).toContain('timer.fired');
    expect(stored.states).toEqual(steppedStates(s, stored.history));
    expect(reported).toEqual(stored.history.map((entry, i) => ({ entry, state: stored.states![i] })));
    expect(stored.states!.at(-1)).toBe('failed');
  });

  it('follow a rerun that reuses earlier results from its first entry on', async () => {
    const { stored } = await recorded(s, {
      rerunOf: 'earlier',
      reuse: {
        succeeded: [
          { taskId: 'a', result: 'a' },
          { taskId: 'b', result: 'b' },
        ],
      },
    });
    expect(stored.history[0]).toMatchObject({ type: 'run.started', reused: ['a', 'b'] });
    expect(stored.history.filter((e) => e.type === 'task.started').map((e) => (e as { task: string }).task)).toEqual([
      'c',
      'b.compensate',
      'f',
    ]);
    expect(stored.states).toEqual(steppedStates(s, stored.history));
  });
});
