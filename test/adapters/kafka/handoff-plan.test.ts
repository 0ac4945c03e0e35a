import { describe, expect, it } from 'vitest';
import type { MemberState } from '../../../src/adapters/kafka/handoff-assigner.js';
import { planAssignment } from '../../../src/adapters/kafka/handoff-assigner.js';

const member = (id: string, owned: number[], busy: number[] = []) => ({
  id,
  state: { owned, busy, token: `t-${id}` } satisfies MemberState,
});
const all = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('planAssignment', () => {
  it('splits a fresh group evenly', () => {
    const plan = planAssignment([member('a', []), member('b', [])], all(6));
    expect(plan.get('a')!.partitions.length).toBe(3);
    expect(plan.get('b')!.partitions.length).toBe(3);
    expect([...plan.get('a')!.partitions, ...plan.get('b')!.partitions].sort()).toEqual(all(6));
  });

  it("keeps a live member's partitions and gives a dead member's to the newcomer, with no hold", () => {
    // b died owning 3..5 (it is not in the join); c joins.
    const plan = planAssignment([member('a', [0, 1, 2], [0, 1, 2]), member('c', [])], all(6));
    expect(plan.get('a')).toEqual({ partitions: [0, 1, 2], hold: {} });
    expect(plan.get('c')).toEqual({ partitions: [3, 4, 5], hold: {} });
  });

  it('moves idle partitions first when a member joins', () => {
    const plan = planAssignment([member('a', all(4), [0, 2]), member('b', [])], all(4));
    expect(plan.get('a')).toEqual({ partitions: [0, 2], hold: {} });
    expect(plan.get('b')).toEqual({ partitions: [1, 3], hold: {} });
  });

  it('holds a busy partition that has to move, for the member that had it', () => {
    const plan = planAssignment([member('a', all(4), all(4)), member('b', [])], all(4));
    expect(plan.get('a')!.partitions).toEqual([0, 1]);
    expect(plan.get('b')).toEqual({ partitions: [2, 3], hold: { 2: [{ from: 'a', token: 't-a' }], 3: [{ from: 'a', token: 't-a' }] } });
  });

  it('gives a partition claimed twice to one member only', () => {
    const plan = planAssignment([member('a', [0, 1]), member('b', [1])], all(2));
    expect(plan.get('a')!.partitions).toEqual([0]);
    expect(plan.get('b')!.partitions).toEqual([1]);
  });

  it('holds a partition claimed twice for the other claimant that is busy on it', () => {
    // b missed a rebalance: it still runs work of 1, which a owns now.
    const plan = planAssignment([member('a', [0, 1], [1]), member('b', [1], [1]), member('c', [])], all(3));
    expect(plan.get('a')).toEqual({ partitions: [1], hold: { 1: [{ from: 'b', token: 't-b' }] } });
  });
});
