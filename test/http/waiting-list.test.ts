// listShownRuns over a real in-memory store and the listing `lockstep runs` uses: waiting and running runs told
// apart across batches, in newest-first order, with limits and cursors.
import { describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import type { WaitingFact } from '../../src/core/run/run-facts.js';
import { listShownRuns } from '../../src/http/waiting.js';
import type { RunRecord } from '../../src/ports/run-store.js';
import { listRuns } from '../../src/runtime/run-listing.js';

const record = (i: number, status: RunRecord['status']): RunRecord => ({
  runId: `run-${String(i).padStart(4, '0')}`,
  sequence: 'approval',
  version: '1',
  definition: '',
  definitionHash: '',
  input: null,
  status,
  createdAt: 1_000_000 + i,
  updatedAt: 1_000_000 + i,
});

/** 500 runs: every third one waits, every seventh ended; the rest run. All are driven by this process. */
async function storeOfRuns(): Promise<{ store: MemoryRunStore; waits: Map<string, WaitingFact> }> {
  const store = new MemoryRunStore();
  const waits = new Map<string, WaitingFact>();
  for (let i = 0; i < 500; i++) {
    const r = record(i, i % 7 === 0 ? 'succeeded' : 'running');
    await store.create(r, []);
    if (r.status === 'running') await store.lock(r.runId, 'this-process');
    if (r.status === 'running' && i % 3 === 0) waits.set(r.runId, { taskId: 'approve', for: 'signal', since: r.createdAt });
  }
  return { store, waits };
}

describe('listShownRuns', () => {
  it('lists exactly the waiting runs, or exactly the running ones, newest first across batches', async () => {
    const { store, waits } = await storeOfRuns();
    const list = (status: 'waiting' | 'running', limit?: number, after?: { createdAt: number; runId: string }) =>
      listShownRuns(
        (q) => listRuns(store, q),
        async (r) => waits.get(r.runId),
        { status, ...(limit ? { limit } : {}), ...(after ? { after } : {}) },
      );
    const expected = (pick: (i: number) => boolean) =>
      Array.from({ length: 500 }, (_, i) => 499 - i)
        .filter((i) => i % 7 !== 0 && pick(i))
        .map((i) => record(i, 'running').runId);

    const waiting = await list('waiting');
    expect(waiting.map((r) => r.record.runId)).toEqual(expected((i) => i % 3 === 0));
    expect(waiting.every((r) => r.status === 'waiting' && r.waiting?.taskId === 'approve')).toBe(true);
    const running = await list('running');
    expect(running.map((r) => r.record.runId)).toEqual(expected((i) => i % 3 !== 0));
    expect(running.every((r) => r.status === 'running' && r.waiting === undefined)).toBe(true);

    const first = await list('waiting', 100);
    expect(first.map((r) => r.record.runId)).toEqual(expected((i) => i % 3 === 0).slice(0, 100));
    const last = first.at(-1)!.record;
    const next = await list('waiting', 100, { createdAt: last.createdAt, runId: last.runId });
    expect(next.map((r) => r.record.runId)).toEqual(expected((i) => i % 3 === 0).slice(100, 200));
  });

  it('shows each run of an unfiltered listing with its wait, and leaves ended runs as they are', async () => {
    const { store, waits } = await storeOfRuns();
    const listed = await listShownRuns(
      (q) => listRuns(store, q),
      async (r) => waits.get(r.runId),
      { limit: 10 },
    );
    expect(listed.map((r) => `${r.record.runId}:${r.status}`)).toEqual([
      'run-0499:running',
      'run-0498:waiting',
      'run-0497:succeeded',
      'run-0496:running',
      'run-0495:waiting',
      'run-0494:running',
      'run-0493:running',
      'run-0492:waiting',
      'run-0491:running',
      'run-0490:succeeded',
    ]);
  });
});
