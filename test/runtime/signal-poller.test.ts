import { describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import { ErrorCode, LockstepError } from '../../src/core/errors.js';
import type { Signal } from '../../src/core/run/signal.js';
import { InvalidSignalError } from '../../src/core/run/signal.js';
import type { SignalOutcome } from '../../src/ports/run-service.js';
import { SignalPoller } from '../../src/runtime/signal-poller.js';
import { SimulatedClock } from '../../src/runtime/simulated-clock.js';
import { record } from '../contract/run-store.contract.js';

async function storeWith(runs: number): Promise<{ store: MemoryRunStore; ids: string[] }> {
  const store = new MemoryRunStore();
  const ids: string[] = [];
  for (let i = 0; i < runs; i++) {
    const r = record();
    await store.create(r, []);
    ids.push(r.runId);
  }
  return { store, ids };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('SignalPoller', () => {
  it('applies the signals of driven runs in the order they were added, removes each, and leaves the others', async () => {
    for (const driven of [3, 300]) {
      const { store, ids } = await storeWith(driven + 1);
      const elsewhere = ids.pop()!;
      const applied: Array<[string, Signal]> = [];
      const poller = new SignalPoller({
        inbox: store,
        clock: new SimulatedClock(),
        driven: () => ids,
        apply: async (runId, signal) => {
          applied.push([runId, signal]);
          return applied.length === 1 ? { status: 'applied' } : { status: 'ignored', reason: 'duplicate' };
        },
        intervalMs: false,
      });
      const last = ids.at(-1)!;
      const a = await store.addSignal(last, { taskId: 'approve', data: 1 }, 1);
      const b = await store.addSignal(elsewhere, { taskId: 'approve', data: 2 }, 2);
      const c = await store.addSignal(ids[0]!, { taskId: 'approve', data: 3 }, 3);
      expect(await poller.poke(c.id)).toEqual<SignalOutcome>({ status: 'ignored', reason: 'duplicate' });
      expect(applied).toEqual([
        [last, { taskId: 'approve', data: 1 }],
        [ids[0], { taskId: 'approve', data: 3 }],
      ]);
      expect(await store.pendingSignals()).toEqual([b]);
      // One applied already: nothing tells what it did any more, and nothing applies it twice.
      expect(await poller.poke(a.id)).toBeUndefined();
      expect(applied).toHaveLength(2);
      await poller.close();
    }
  });

  it('looks every interval on its clock, drops a signal that can never apply, and keeps one whose run went', async () => {
    const { store, ids } = await storeWith(3);
    const clock = new SimulatedClock();
    const refused: string[] = [];
    const poller = new SignalPoller({
      inbox: store,
      clock,
      driven: () => ids,
      apply: async (runId) => {
        if (runId === ids[0]) throw new InvalidSignalError([{ path: 'data', message: 'no' }]);
        if (runId === ids[1]) throw new LockstepError(ErrorCode.unknownRun, `run ${runId} is not driven here`);
        throw new Error('store unreadable');
      },
      intervalMs: 250,
      onRefused: (runId) => refused.push(runId),
      onError: (error) => refused.push(`error: ${(error as Error).message}`),
    });
    await store.addSignal(ids[0]!, { taskId: 'approve' }, 1);
    const kept = await store.addSignal(ids[1]!, { taskId: 'approve' }, 2);
    const failing = await store.addSignal(ids[2]!, { taskId: 'approve' }, 3);
    clock.advance(249);
    await settle();
    expect(refused).toEqual([]);
    clock.advance(1);
    for (let i = 0; i < 10; i++) await settle();
    // A plain error is a failed pass: it is reported, and the next pass tries again.
    expect(refused).toEqual([ids[0], 'error: store unreadable']);
    expect(await store.pendingSignals()).toEqual([kept, failing]);
    expect(clock.pendingTimers).toBe(1);
    await poller.close();
    expect(clock.pendingTimers).toBe(0);
  });
});
