import { describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { TaskContext } from '../../src/core/sequence/types.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';
import type { Release, RunStore } from '../../src/ports/run-store.js';

/** a -> b -> c, finally f. `b` hangs on its first attempt until cancelled: the run is "in flight" there. */
function flaky(ran: string[]) {
  const step = (id: string) => async (ctx: TaskContext) => {
    ran.push(`${id}#${ctx.attempt}`);
    if (id === 'b' && ctx.attempt === 1) {
      await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped'))));
    }
    return `${id}-result`;
  };
  return sequence('flaky').then('a', step('a')).then('b', step('b')).then('c', step('c')).finally('f', step('f')).build();
}

/** `store` with some methods replaced; the others stay bound to it (its private fields need the real `this`). */
function wrap(store: RunStore, overrides: Partial<RunStore>): RunStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop as keyof RunStore];
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Starts a run and abandons it while `b` attempt 1 is in flight, as a killed process would. */
async function abandonedRun(store: RunStore, ran: string[]): Promise<string> {
  const runtime = await createEmbeddedRuntime({ store: wrap(store, { close: async () => {} }) });
  runtime.register(flaky(ran));
  const runId = await runtime.start({ sequence: 'flaky' });
  while (!ran.includes('b#1')) await new Promise((r) => setTimeout(r, 2));
  await runtime.close();
  return runId;
}

describe('orchestrator: resume', () => {
  it('reports the interrupted attempt and the new one through onEntry, with its sequence, and finishes the run', async () => {
    const store = new MemoryRunStore();
    const ran: string[] = [];
    const runId = await abandonedRun(store, ran);
    const seen: RunEntry[] = [];
    const sequences = new Set<string>();
    const runtime = await createEmbeddedRuntime({
      store,
      onEntry: (e, _state, sequence) => {
        seen.push(e);
        sequences.add(sequence);
      },
    });
    runtime.register(flaky(ran));
    await runtime.orchestrator.resume(runId);
    const final = await runtime.orchestrator.waitFor(runId);
    await runtime.close();
    expect(final.outcome).toBe('succeeded');
    expect(seen.slice(0, 2)).toMatchObject([
      { type: 'task.interrupted', task: 'b', attempt: 1 },
      { type: 'task.started', task: 'b', attempt: 2 },
    ]);
    expect(ran).toEqual(['a#1', 'b#1', 'b#2', 'c#1', 'f#1']);
    // A resumed run's entries name its sequence, though its run.started was recorded by another process.
    expect([...sequences]).toEqual(['flaky']);
  });

  it('re-reads the run under its lock: a run that ended meanwhile is not driven again, and the lock is released', async () => {
    const inner = new MemoryRunStore();
    const ran: string[] = [];
    const runId = await abandonedRun(inner, ran);
    // Another process finishes the run while this one waits for the lock.
    const racing = wrap(inner, {
      lock: async (id: string, owner: string): Promise<Release> => {
        await inner.append(id, [], { status: 'succeeded' });
        return inner.lock(id, owner);
      },
    });
    const runtime = await createEmbeddedRuntime({ store: racing });
    runtime.register(flaky(ran));
    await expect(runtime.orchestrator.resume(runId)).rejects.toMatchObject({ code: 'RUN_NOT_RESUMABLE' });
    await runtime.close();
    const history = (await inner.get(runId))!.history;
    expect(history.some((e) => e.type === 'task.interrupted')).toBe(false);
    (await inner.lock(runId, 'someone-else'))();
  });

  it('refuses an unknown run', async () => {
    const runtime = await createEmbeddedRuntime();
    await expect(runtime.orchestrator.resume('nope')).rejects.toMatchObject({ code: 'UNKNOWN_RUN' });
    await runtime.close();
  });
});

describe('orchestrator: the run record', () => {
  it('names the task that failed the run once it ends, not the finally task that ran last', async () => {
    const store = new MemoryRunStore();
    const runtime = await createEmbeddedRuntime({ store });
    runtime.register(
      sequence('breaks')
        .then('a', async () => 1)
        .then('b', async () => {
          throw new Error('b broke');
        })
        .finally('f', async () => 2)
        .build(),
    );
    const final = await runtime.run({ sequence: 'breaks' });
    await runtime.close();
    expect(final.outcome).toBe('failed');
    expect((await store.get(final.runId))!.record).toMatchObject({ status: 'failed', currentTask: 'b' });
  });
});
