import { randomUUID } from 'node:crypto';
import type { Admin, GroupMemberAssignment, PartitionAssigner } from 'kafkajs';
import kafkajs from 'kafkajs';

const { AssignerProtocol } = kafkajs;

/** The group protocol of workers: sticky, and it moves partitions with work in flight only as a handoff. */
export const HANDOFF_PROTOCOL = 'LockstepHandoff';

/** Header of a release record: the token of the join in which its sender gave the partition up. */
export const RELEASE_HEADER = 'lockstep-release';

/** What a member says of itself when it joins (its protocol metadata's user data). */
export interface MemberState {
  /** Partitions it owns now. */
  readonly owned: readonly number[];
  /** Owned partitions with work in flight (deferred messages still running). */
  readonly busy: readonly number[];
  /** Fresh for each join: the release records it sends for partitions given up in that join carry it. */
  readonly token: string;
}

/** A partition that comes from a member that still had work in flight on it: held until that member releases it. */
export interface Hold {
  /** The member id of the previous owner. */
  readonly from: string;
  /** The token its release record carries. */
  readonly token: string;
}

/** One member's share of a plan. */
export interface MemberPlan {
  readonly partitions: number[];
  /** Per partition taken over: the members it waits for. */
  readonly hold: Record<number, Hold[]>;
}

/**
 * Splits `partitions` among members. Each member keeps what it owns (a partition claimed twice, by a member that
 * missed a rebalance, goes to the first claimant by member id, and waits for the others if they are busy on it); partitions nobody owns (their owner left the group) go to the members with the fewest.
 * Then the shares are balanced (sizes differ by one at most): a member above its share gives up partitions with
 * nothing in flight first. A busy partition that moves is a handoff: its new owner gets a {@link Hold} on it.
 */
export function planAssignment(
  members: ReadonlyArray<{ readonly id: string; readonly state: MemberState }>,
  partitions: readonly number[],
): Map<string, MemberPlan> {
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const valid = new Set(partitions);
  const owner = new Map<number, string>();
  const shares = new Map<string, number[]>(sorted.map((m) => [m.id, []]));
  const busyOn = new Map<string, Set<number>>(sorted.map((m) => [m.id, new Set(m.state.busy)]));
  const tokens = new Map(sorted.map((m) => [m.id, m.state.token]));
  const holds = new Map<number, Hold[]>();
  const holdFor = (p: number, from: string) => holds.set(p, [...(holds.get(p) ?? []), { from, token: tokens.get(from)! }]);
  for (const m of sorted)
    for (const p of m.state.owned) {
      if (!valid.has(p)) continue;
      if (!owner.has(p)) {
        owner.set(p, m.id);
        shares.get(m.id)!.push(p);
      } else if (busyOn.get(m.id)!.has(p)) holdFor(p, m.id);
    }
  const pool: Array<{ p: number; busy: boolean }> = partitions.filter((p) => !owner.has(p)).map((p) => ({ p, busy: false }));
  // Targets: the larger shares go to the members that already have the most, so that fewer partitions move.
  const base = Math.floor(partitions.length / Math.max(1, sorted.length));
  let extra = partitions.length - base * sorted.length;
  const byLoad = [...sorted].sort((a, b) => shares.get(b.id)!.length - shares.get(a.id)!.length);
  const target = new Map<string, number>();
  for (const m of byLoad) target.set(m.id, base + (extra-- > 0 ? 1 : 0));
  for (const m of byLoad) {
    const share = shares.get(m.id)!;
    const busy = busyOn.get(m.id)!;
    // Busy partitions first, idle ones last: the idle ones are given up first, highest numbers first.
    share.sort((a, b) => Number(busy.has(b)) - Number(busy.has(a)) || a - b);
    while (share.length > target.get(m.id)!) {
      const p = share.pop()!;
      if (busy.has(p)) holdFor(p, m.id);
      pool.push({ p, busy: busy.has(p) });
    }
  }
  const plans = new Map<string, MemberPlan>(sorted.map((m) => [m.id, { partitions: [...shares.get(m.id)!], hold: {} }]));
  // Idle partitions of the pool go out before the busy ones, to the members furthest below their share.
  pool.sort((a, b) => Number(a.busy) - Number(b.busy) || a.p - b.p);
  for (const { p } of pool) {
    const m = [...plans]
      .filter(([id, plan]) => plan.partitions.length < target.get(id)!)
      .sort(([, a], [, b]) => a.partitions.length - b.partitions.length)[0];
    if (!m) break;
    m[1].partitions.push(p);
  }
  for (const [id, plan] of plans)
    for (const p of plan.partitions) {
      const waits = (holds.get(p) ?? []).filter((h) => h.from !== id);
      if (waits.length > 0) plan.hold[p] = waits;
    }
  for (const plan of plans.values()) plan.partitions.sort((a, b) => a - b);
  return plans;
}

function decodeState(metadata: Buffer): MemberState {
  try {
    const userData = AssignerProtocol.MemberMetadata.decode(metadata)?.userData;
    const state = JSON.parse(userData?.toString('utf8') || '{}') as Partial<MemberState>;
    return { owned: state.owned ?? [], busy: state.busy ?? [], token: state.token ?? '' };
  } catch {
    return { owned: [], busy: [], token: '' };
  }
}

/**
 * The partition assigner of at-least-once subscriptions. `state` is asked at each join for what this member owns
 * and has in flight; the group's leader plans with {@link planAssignment} and tells each member its holds in its
 * assignment's user data (read back with {@link readHolds}).
 */
export function handoffAssigner(topic: string, state: () => MemberState): PartitionAssigner {
  return ({ cluster }) => ({
    name: HANDOFF_PROTOCOL,
    version: 1,
    async assign({ members }): Promise<GroupMemberAssignment[]> {
      const partitions = cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId);
      const plans = planAssignment(
        members.map((m) => ({ id: m.memberId, state: decodeState(m.memberMetadata) })),
        partitions,
      );
      return [...plans].map(([memberId, plan]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: { [topic]: plan.partitions },
          userData: Buffer.from(JSON.stringify({ hold: plan.hold })),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: HANDOFF_PROTOCOL,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 1, topics, userData: Buffer.from(JSON.stringify(state())) }),
      };
    },
  });
}

/** A fresh join token. */
export const joinToken = (): string => randomUUID();

/** The group as the coordinator describes it: its members, and this member's holds. */
export interface GroupView {
  readonly members: ReadonlySet<string>;
  /** This member's holds, by partition; `undefined` when the group is not stable (a rebalance is under way). */
  readonly holds: ReadonlyMap<number, readonly Hold[]> | undefined;
}

/** Reads the group's members and, once the group is stable, the holds the leader gave `memberId`. */
export async function readGroup(admin: Admin, group: string, memberId: string): Promise<GroupView> {
  const { groups } = await admin.describeGroups([group]);
  const g = groups[0];
  const members = new Set((g?.members ?? []).map((m) => m.memberId));
  const me = g?.members.find((m) => m.memberId === memberId);
  if (g?.state !== 'Stable' || g.protocol !== HANDOFF_PROTOCOL || !me) return { members, holds: undefined };
  const decoded = AssignerProtocol.MemberAssignment.decode(me.memberAssignment);
  const holds = new Map<number, Hold[]>();
  try {
    const data = JSON.parse(decoded?.userData.toString('utf8') || '{}') as { hold?: Record<string, Hold[]> };
    for (const [p, h] of Object.entries(data.hold ?? {})) holds.set(Number(p), h);
  } catch {
    // an assignment without holds
  }
  return { members, holds };
}
