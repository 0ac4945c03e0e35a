import { describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import { resolveRunId } from '../../src/runtime/run-listing.js';
import { record } from '../contract/run-store.contract.js';

async function storeWith(...ids: string[]): Promise<MemoryRunStore> {
  const store = new MemoryRunStore();
  for (const [i, runId] of ids.entries()) await store.create(record({ runId, createdAt: Date.parse('2026-12-01T10:00:00Z') + i }), []);
  return store;
}

describe('resolveRunId', () => {
  it('takes an exact id, even when it is the prefix of another, and a unique prefix', async () => {
    const store = await storeWith('abc', 'abcdef', '123e4567');
    expect(await resolveRunId(store, 'abc', 'the store')).toBe('abc');
    expect(await resolveRunId(store, 'abcd', 'the store')).toBe('abcdef');
    expect(await resolveRunId(store, '123', 'the store')).toBe('123e4567');
  });

  it('refuses an ambiguous prefix, listing the matches, and names the store for an unknown one', async () => {
    const store = await storeWith('ab-1', 'ab-2', 'b-3');
    await expect(resolveRunId(store, 'ab', 'db.sqlite')).rejects.toMatchObject({
      code: 'INVALID_USAGE',
      message:
        'run id prefix "ab" is ambiguous in db.sqlite: it matches 2 runs\n  ab-2  orders  2026-12-01T10:00:00.001Z\n  ab-1  orders  2026-12-01T10:00:00.000Z',
    });
    await expect(resolveRunId(store, 'zz', 'db.sqlite')).rejects.toMatchObject({
      code: 'UNKNOWN_RUN',
      message: 'unknown run zz in db.sqlite (list runs with `lockstep runs`)',
    });
  });
});
