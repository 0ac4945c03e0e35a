// SIGKILL a worker in the middle of long (12 s) shell tasks, longer than the rebalance takes, then start another. The killed worker's attempts are
// redelivered (at least once: same attempt, same idempotency key) once the group has rebalanced, and run again on
// the new worker. Their first executions must have stopped by then: each recorded task beats every 0.5 s with its
// shell's pid, and no beat of a killed execution may come after its redo started. (The checker alone cannot tell:
// an execution with no end counts as unknown.)
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { groupMembers } from '../../src/adapters/process/process-identity.js';
import { Deployment, recordedSequence } from './support/deployment.js';
import { PROFILE, RUNS, recordScenario } from './support/report.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
/** Runs in flight on the worker each kill lands on; the long profile repeats the kill until RUNS runs crossed one. */
const N = Math.min(RUNS, 40);
const ROUNDS = PROFILE === 'long' ? Math.ceil(RUNS / N) : 1;
/** 12 s of work, a beat every 0.5 s: `beat <run> <task> <attempt> <pid> <ms>`. */
const WORK = `i=0; while [ $i -lt 24 ]; do echo "beat $LOCKSTEP_RUN_ID $LOCKSTEP_TASK_ID $LOCKSTEP_ATTEMPT $$ $(date +%s%3N)" >> "$LOCKSTEP_FAULTS_EXECUTIONS"; sleep 0.5; i=$((i+1)); done`;

interface Beat {
  readonly key: string;
  readonly pid: number;
  readonly at: number;
}

function beats(file: string): Beat[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('beat '))
    .map((l) => {
      const [, run, task, attempt, pid, at] = l.split(' ');
      return { key: `${run} ${task} ${attempt}`, pid: Number(pid), at: Number(at) };
    });
}

/** Executions of one attempt, by shell pid, in the order they started; and the beats of each after the next began. */
function redone(all: readonly Beat[]) {
  const byKey = new Map<string, Map<number, number[]>>();
  for (const b of all) {
    const execs = byKey.get(b.key) ?? new Map<number, number[]>();
    execs.set(b.pid, [...(execs.get(b.pid) ?? []), b.at]);
    byKey.set(b.key, execs);
  }
  const out: Array<{ key: string; killedPid: number; lateBeats: number }> = [];
  for (const [key, execs] of byKey) {
    if (execs.size < 2) continue;
    const ordered = [...execs].sort(([, a], [, b]) => Math.min(...a) - Math.min(...b));
    for (let i = 0; i + 1 < ordered.length; i++) {
      const [pid, times] = ordered[i]!;
      const redoStart = Math.min(...ordered[i + 1]![1]);
      out.push({ key, killedPid: pid, lateBeats: times.filter((t) => t >= redoStart).length });
    }
  }
  return out;
}

const live = (pgid: number) => groupMembers(pgid).filter((m) => m.stat.state !== 'Z' && m.stat.state !== 'X');

describe('fault: a worker SIGKILLed in the middle of long tasks', () => {
  const d = new Deployment({ brokers: BROKERS, partitions: 8, sequences: { 'long.yaml': recordedSequence('long', 2, WORK) } });
  afterAll(() => d.stop());

  it(`stops the killed attempts: none overlaps its redo, and none is left running (${ROUNDS} kills of ${N} runs)`, async () => {
    const began = Date.now();
    await d.setUp();
    await d.addOrchestrator();
    let victim = await d.addWorker();
    const runIds: string[] = [];
    let recoveryMs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const ids = await d.startRuns(Math.min(N, RUNS - runIds.length), 'long');
      runIds.push(...ids);
      const mine = new Set(ids);
      const beatsOfRound = () => beats(d.executionsFile).filter((b) => mine.has(b.key.split(' ')[0]!));
      // Kill it at a random moment while tasks run: after the first beats, early in the first 12 s task.
      while (beatsOfRound().length < 4) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 2_000));
      const killedAt = Date.now();
      await victim.stop('SIGKILL');
      victim = await d.addWorker();
      await d.waitEnded(ids, 300_000);
      const resumedAt = beatsOfRound().find((b) => b.at > killedAt + 1_000)?.at ?? killedAt;
      recoveryMs = Math.max(recoveryMs, resumedAt - killedAt);
    }
    const report = d.check(runIds);
    const redos = redone(beats(d.executionsFile));
    const late = redos.reduce((n, r) => n + r.lateBeats, 0);
    const leftRunning = redos.filter((r) => live(r.killedPid).length > 0).length;
    console.log(
      `[worker-kill-long] ${redos.length} killed executions redone; ${late} beats of them after their redo started; ${leftRunning} still running; overlapping-attempts ${report.counts['overlapping-attempts']}`,
    );
    expect(redos.length).toBeGreaterThan(0);
    expect(late).toBe(0);
    expect(leftRunning).toBe(0);
    expect(d.ended(runIds)).toBe(runIds.length);
    recordScenario(
      d.row('worker-kill-long', runIds, report, {
        recoveryMs,
        seconds: Math.round((Date.now() - began) / 1000),
        notes: `${ROUNDS} workers SIGKILLed mid 12 s tasks, ${N} runs in flight at each kill; ${redos.length} attempts redone after the rebalance (duplicate dispatches), their first executions stopped: ${late} late beats`,
      }),
    );
    expect(report.violations.slice(0, 10)).toEqual([]);
    expect(report.finished).toBe(runIds.length);
  });
});
