// Pieces the Kafka-side fault scenarios share: seeded random timing of the fault, waiting for load to reach it,
// the orchestrators' group (who owns which events partition), and the recovery figures read off the history topic.
import { readFileSync } from 'node:fs';
import kafkajs from 'kafkajs';
import type { HistoryReport } from '../../../src/testing/history-checker.js';
import { checkRunLog } from '../../acceptance/run-log-checker.js';
import { rawAdmin } from '../../support/raw-kafka.js';
import type { Deployment } from './deployment.js';

import { sleep as delay } from './seeded-random.js';

export { seededRandom } from './seeded-random.js';
export { delay };

/** A dispatch count between `from` and `to` (fractions of `total`), drawn from `random`. */
export function faultMoment(random: () => number, total: number, from = 0.2, to = 0.6): number {
  return Math.max(1, Math.round(total * (from + (to - from) * random())));
}

/** Task dispatches seen on the deployment's default command topic so far (redeliveries included). */
export function dispatchCount(d: Deployment): number {
  return d.of(d.topics.commands('default')).filter((r) => r.value?.includes('"task.dispatch"')).length;
}

/** Resolves once `n` dispatches have been seen; rejects after `timeoutMs`. */
export async function dispatched(d: Deployment, n: number, timeoutMs = 600_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (dispatchCount(d) < n) {
    if (Date.now() > until) throw new Error(`${dispatchCount(d)} of ${n} dispatches seen in ${timeoutMs} ms`);
    await delay(20);
  }
}

/** Of `runs` runs started, those not ended yet (running, or not started by an orchestrator yet): the runs a fault now crosses. */
export function inFlight(d: Deployment, runs: number): number {
  return runs - [...d.states.values()].filter((s) => s.status !== 'running').length;
}

export interface GroupMember {
  readonly memberId: string;
  readonly clientId: string;
  /** Partitions of the events topic assigned to it. */
  readonly partitions: readonly number[];
}

/** The orchestrators' group as the broker's coordinator sees it, when it is stable. */
export async function orchestratorGroup(d: Deployment): Promise<{ state: string; members: GroupMember[] }> {
  const admin = await rawAdmin(d.brokers);
  try {
    const { groups } = await admin.describeGroups([`${d.prefix}-orchestrators`]);
    const group = groups[0]!;
    return {
      state: group.state,
      members: group.members.map((m) => {
        const assignment = kafkajs.AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
        return { memberId: m.memberId, clientId: m.clientId, partitions: assignment?.assignment[d.topics.events] ?? [] };
      }),
    };
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the group is stable with `members` members, each assigned some partition, and returns them. */
export async function stableGroup(d: Deployment, members: number, timeoutMs = 60_000): Promise<GroupMember[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const group = await orchestratorGroup(d).catch(() => undefined);
    if (group?.state === 'Stable' && group.members.length === members && group.members.every((m) => m.partitions.length > 0))
      return group.members;
    if (Date.now() > until) throw new Error(`the orchestrators' group is ${JSON.stringify(group)}, not stable with ${members} members`);
    await delay(200);
  }
}

/**
 * Recovery of `partitions` after a fault at `since` (epoch ms): for each partition on which a history entry was
 * written after `since`, the time until the first such entry (the record's timestamp, set when the orchestrator
 * that took the partition produced it); the largest of them. Null when no entry came after `since`.
 */
export function servedAgainMs(d: Deployment, partitions: readonly number[], since: number): number | null {
  let worst: number | null = null;
  for (const p of partitions) {
    const first = d
      .of(d.topics.history)
      .filter((r) => r.partition === p && r.timestamp > since)
      .reduce((min, r) => Math.min(min, r.timestamp), Number.POSITIVE_INFINITY);
    if (Number.isFinite(first)) worst = Math.max(worst ?? 0, first - since);
  }
  return worst;
}

/**
 * The longest time, from `since` on, during which no history entry at all was written while runs were still
 * going (until the last entry): how long the whole group stood still, e.g. during a rebalance.
 */
export function longestPauseMs(d: Deployment, since: number, until = Number.POSITIVE_INFINITY): number {
  const times = d
    .of(d.topics.history)
    .map((r) => r.timestamp)
    .filter((t) => t >= since && t <= until)
    .sort((a, b) => a - b);
  let worst = 0;
  let previous = since;
  for (const t of times) {
    worst = Math.max(worst, t - previous);
    previous = t;
  }
  return worst;
}

/** Waits until no new record has been read for `quietMs`: what was committed has been seen before the checks. */
export async function logSettled(d: Deployment, quietMs = 1_000, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < until) {
    const n = d.log.records.length;
    if (n === last) return;
    last = n;
    await delay(quietMs);
  }
}

/**
 * The history checker's report over everything the deployment saw, and what the event log says besides: each
 * run's dispatches in order, each caused by its predecessor's success (`problems`, empty when clean).
 */
export function checkDeployment(
  d: Deployment,
  runIds: readonly string[],
  order: readonly string[],
): HistoryReport & { problems: string[] } {
  const report = d.check(runIds);
  const { problems } = checkRunLog(d.of(d.topics.events), d.of(d.topics.commands('default')), runIds, order);
  return { ...report, problems };
}

/** For a failure message: where each run that did not end stands (its state, its dispatches, its events). */
export function stuckRuns(d: Deployment, runIds: readonly string[], max = 5): string {
  const stuck = runIds.filter((id) => d.states.get(id)?.status !== 'succeeded' && d.states.get(id)?.status !== 'failed');
  const lines = [`${stuck.length} runs not ended`];
  for (const id of stuck.slice(0, max)) {
    const state = d.states.get(id);
    const dispatches = d
      .dispatches()
      .filter((x) => x.runId === id)
      .map((x) => `${x.taskId}:${x.attempt}`);
    const events = d
      .of(d.topics.events)
      .filter((r) => r.key === id)
      .map((r) => {
        const e = JSON.parse(r.value ?? '{}') as { type?: string; taskId?: string; attempt?: number };
        return `${e.type}${e.taskId ? ` ${e.taskId}:${e.attempt}` : ''}@p${r.partition}o${r.offset}`;
      });
    const history =
      d
        .histories()
        .find((h) => h.runId === id)
        ?.entries.map((e) => e.type) ?? [];
    lines.push(
      `${id}: state ${state ? JSON.stringify(state.snapshot.value) : 'none'}; dispatches ${dispatches.join(',')}; events ${events.join(', ')}; history ${history.join(',')}`,
    );
  }
  return lines.join('\n');
}

/** For a failure message: the side-effect log's lines of the runs a report names (which worker ran what, when). */
export function executionLines(d: Deployment, report: HistoryReport, max = 4): string {
  const runs = [...new Set(report.violations.map((v) => v.runId))].slice(0, max);
  const lines = readFileSync(d.executionsFile, 'utf8').split('\n');
  return runs.map((id) => `${id}:\n${lines.filter((l) => l.includes(id)).join('\n')}`).join('\n');
}
