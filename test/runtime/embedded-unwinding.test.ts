import { describe, expect, it } from 'vitest';
import { sequence } from '../../src/core/sequence/builder.js';
import type { TaskContext } from '../../src/core/sequence/types.js';
import { harness, idle } from '../support/embedded-harness.js';

/** A sequence whose tasks log what ran; `fail` names the task that fails, `hang` the one that waits for cancel. */
function saga(opts: { fail?: string; hang?: string; finallyFails?: boolean; continueOn?: string } = {}) {
  const ran: string[] = [];
  const step = (id: string) => async (ctx: TaskContext) => {
    ran.push(id);
    if (id === opts.fail) throw new Error(`${id} broke`);
    if (id === opts.hang) {
      await new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('cancelled'))));
    }
    return id;
  };
  const undo = (id: string) => async () => {
    ran.push(`undo ${id}`);
  };
  const seq = sequence('saga')
    .then('a', step('a'), { compensate: undo('a') })
    .then('b', step('b'), { compensate: undo('b'), ...(opts.continueOn === 'b' ? { onFailure: 'continue' as const } : {}) })
    .then('c', step('c'))
    .then('d', step('d'), { compensate: undo('d') })
    .then('e', step('e'))
    .finally('f1', async () => {
      ran.push('f1');
      if (opts.finallyFails) throw new Error('cleanup broke');
    })
    .finally('f2', async () => {
      ran.push('f2');
    })
    .build();
  return { seq, ran };
}

describe('embedded runtime: finally, compensation and cancel', () => {
  it('runs finally tasks exactly once after success, without compensating', async () => {
    const { seq, ran } = saga();
    const h = await harness(seq);
    const { final } = await h.run();
    expect(final.type).toBe('run.succeeded');
    expect(ran).toEqual(['a', 'b', 'c', 'd', 'e', 'f1', 'f2']);
    await h.close();
  });

  it('compensates exactly the completed tasks, in reverse order, then runs finally tasks once', async () => {
    const { seq, ran } = saga({ fail: 'e' });
    const h = await harness(seq);
    const { runId, final } = await h.run();
    expect(final).toMatchObject({ type: 'run.failed', failedTasks: ['e'] });
    expect(ran).toEqual(['a', 'b', 'c', 'd', 'e', 'undo d', 'undo b', 'undo a', 'f1', 'f2']);
    const phases = h.of(runId, 'task.started').map((e) => `${(e as { task: string }).task}/${(e as { phase: string }).phase}`);
    expect(phases.slice(5)).toEqual([
      'd.compensate/compensate',
      'b.compensate/compensate',
      'a.compensate/compensate',
      'f1/finally',
      'f2/finally',
    ]);
    await h.close();
  });

  it('does not compensate tasks that never completed', async () => {
    const { seq, ran } = saga({ fail: 'b' });
    const h = await harness(seq);
    await h.run();
    expect(ran).toEqual(['a', 'b', 'undo a', 'f1', 'f2']);
    await h.close();
  });

  it('does not compensate a task that failed under continue, and the run succeeds', async () => {
    const { seq, ran } = saga({ fail: 'b', continueOn: 'b' });
    const h = await harness(seq);
    const { final } = await h.run();
    expect(final).toMatchObject({ type: 'run.succeeded', failedTasks: ['b'] });
    expect(ran).toEqual(['a', 'b', 'c', 'd', 'e', 'f1', 'f2']);
    await h.close();
  });

  it('on cancel, cancels the task in flight, compensates completed work and runs finally tasks once', async () => {
    const { seq, ran } = saga({ hang: 'd' });
    const h = await harness(seq);
    let cancelled = false;
    const { runId, final } = await h.run(undefined, async (id) => {
      if (!cancelled && ran.includes('d')) {
        cancelled = true;
        await h.runtime.orchestrator.cancel(id, 'operator said stop');
      }
    });
    expect(final).toMatchObject({ type: 'run.cancelled', reason: 'operator said stop' });
    expect(ran).toEqual(['a', 'b', 'c', 'd', 'undo b', 'undo a', 'f1', 'f2']);
    // A second cancel after the run ended changes nothing.
    await h.runtime.orchestrator.cancel(runId);
    await idle();
    expect(ran).toHaveLength(8);
    await h.close();
  });

  it('a handler that reads its signal only after the cancel still sees it aborted, with the reason', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const seen: Array<{ aborted: boolean; reason: unknown }> = [];
    const seq = sequence('late-signal')
      .then('slow', async (ctx: TaskContext) => {
        await gate; // does not touch ctx.signal until the cancel has reached the worker
        seen.push({ aborted: ctx.signal.aborted, reason: ctx.signal.reason });
        if (ctx.signal.aborted) throw new Error('stopped');
      })
      .build();
    const h = await harness(seq);
    let cancelled = false;
    const { final } = await h.run(undefined, async (id) => {
      if (cancelled) return;
      cancelled = true;
      await h.runtime.orchestrator.cancel(id, 'operator said stop');
      await idle();
      release();
    });
    expect(final).toMatchObject({ type: 'run.cancelled' });
    expect(seen).toEqual([{ aborted: true, reason: 'run cancelled' }]);
    await h.close();
  });

  it('a failing finally task fails the run but the other finally tasks still run once', async () => {
    const { seq, ran } = saga({ finallyFails: true });
    const h = await harness(seq);
    const { final } = await h.run();
    expect(final).toMatchObject({ type: 'run.failed', failedTasks: ['f1'] });
    expect(ran).toEqual(['a', 'b', 'c', 'd', 'e', 'f1', 'f2']);
    await h.close();
  });
});

describe('embedded runtime: duplicate, stale and late events', () => {
  it('ignores and counts them, and never advances a run twice', async () => {
    const ran: string[] = [];
    const seq = sequence('dupes')
      .then('one', () => {
        ran.push('one');
        return 1;
      })
      .then('two', async (ctx) => {
        ran.push('two');
        await new Promise((r) => setTimeout(r, 20));
        return ctx.attempt;
      })
      .then('three', () => {
        ran.push('three');
      })
      .build();
    const h = await harness(seq);
    const { transport } = h.runtime;
    const inject = (runId: string, type: 'task.succeeded' | 'task.failed', taskId: string, attempt: number) =>
      transport.publish([
        {
          topic: 'lockstep.events',
          key: runId,
          value: {
            v: 1,
            id: `inj-${Math.random()}`,
            runId,
            taskId,
            attempt,
            time: new Date().toISOString(),
            type,
            payload: type === 'task.succeeded' ? { result: 'forged' } : { error: { message: 'forged' } },
          } as never,
        },
      ]);
    let injected = false;
    const { runId, final } = await h.run(undefined, async (id) => {
      if (!injected && ran.includes('two')) {
        injected = true;
        await inject(id, 'task.succeeded', 'one', 1); // duplicate of an applied completion
        await inject(id, 'task.failed', 'one', 1); // late contradiction of an applied completion
        await inject(id, 'task.succeeded', 'three', 1); // a task that was never dispatched
      }
    });
    expect(final.type).toBe('run.succeeded');
    await inject(runId, 'task.succeeded', 'three', 1); // after the run ended
    await idle();
    expect(ran).toEqual(['one', 'two', 'three']);
    const stats = h.runtime.orchestrator.stats;
    expect(stats.ignored).toMatchObject({ duplicate: 2, unexpected: 1, late: 1 });
    const results = h.of(runId, 'task.succeeded').map((e) => (e as { result?: unknown }).result);
    expect(results).toEqual([1, 1, undefined]);
    await h.close();
  });
});
