import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import type { RunRecord } from '../../src/ports/run-store.js';
import { BIN } from './cli.js';

/** Main tasks of the crash sequence, in order, then its finally task. */
export const MAIN_TASKS = ['t1', 't2', 't3', 't4', 't5'] as const;
export const FINALLY_TASK = 'fin';

/**
 * Every task appends `start <task> <attempt> <pid>` to $CRASH_LOG, works a little, then appends `end <task> <attempt>`.
 * The first attempt of the task named by $CRASH_HOLD never ends (the test kills lockstep while it runs);
 * with $CRASH_FAIL set, t5 fails, so the compensations of t1..t4 run. $CRASH_SLEEP is each task's work time.
 */
const body = [
  'echo "start $LOCKSTEP_TASK_ID $LOCKSTEP_ATTEMPT $$" >> "$CRASH_LOG"',
  'if [ "$LOCKSTEP_TASK_ID" = "$CRASH_HOLD" ] && [ "$LOCKSTEP_ATTEMPT" = 1 ]; then while :; do sleep 0.05; done; fi',
  'sleep "${CRASH_SLEEP:-0.02}"',
  'if [ "$LOCKSTEP_TASK_ID" = t5 ] && [ -n "$CRASH_FAIL" ]; then echo "end $LOCKSTEP_TASK_ID $LOCKSTEP_ATTEMPT" >> "$CRASH_LOG"; exit 1; fi',
  'echo "end $LOCKSTEP_TASK_ID $LOCKSTEP_ATTEMPT" >> "$CRASH_LOG"',
  'echo "{\\"task\\":\\"$LOCKSTEP_TASK_ID\\",\\"attempt\\":$LOCKSTEP_ATTEMPT}"',
].join('; ');

/** Writes the crash sequence file into `dir` and returns its path. */
export function writeCrashSequence(dir: string): string {
  const path = join(dir, 'crash.yaml');
  const task = (id: string, compensate: boolean) => [
    `  - id: ${id}`,
    `    run: ${JSON.stringify(body)}`,
    ...(compensate ? ['    compensate:', `      run: ${JSON.stringify(body)}`] : []),
  ];
  writeFileSync(
    path,
    [
      'name: crash',
      'version: 1',
      'tasks:',
      ...MAIN_TASKS.flatMap((id) => task(id, id !== 't5')),
      'finally:',
      ...task(FINALLY_TASK, false),
      '',
    ].join('\n'),
  );
  return path;
}

export interface LogLine {
  readonly kind: 'start' | 'end';
  readonly task: string;
  readonly attempt: number;
  readonly pid?: number;
}

export function readLog(path: string): LogLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [kind, task, attempt, pid] = line.split(' ');
      return { kind: kind as 'start' | 'end', task: task!, attempt: Number(attempt), ...(pid ? { pid: Number(pid) } : {}) };
    });
}

/** Kills what the killed lockstep left running: task shells (each leads its own process group) that never ended. */
export function killOrphans(log: readonly LogLine[]): void {
  const ended = new Set(log.filter((l) => l.kind === 'end').map((l) => `${l.task}:${l.attempt}`));
  for (const l of log) {
    if (l.kind !== 'start' || l.pid === undefined || ended.has(`${l.task}:${l.attempt}`)) continue;
    try {
      process.kill(-l.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts the real CLI as its own process. */
export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Reads runs straight from the store file, as `lockstep show` would print them. */
export async function storedRuns(storeFile: string): Promise<Array<{ record: RunRecord; history: RunEntry[] }>> {
  if (!existsSync(storeFile)) return [];
  const store = SqliteRunStore.open(storeFile, { create: false });
  try {
    const records = await store.list();
    return Promise.all(records.map(async (r) => (await store.get(r.runId))!));
  } finally {
    await store.close();
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `jobs` with at most `limit` in flight. */
export async function pool<T>(limit: number, jobs: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

/**
 * Checks what a run that was killed once and then resumed must satisfy; returns the task whose attempt was
 * interrupted, if any. Throws with a readable message on the first broken rule.
 */
export function checkCrashInvariants(history: readonly RunEntry[], log: readonly LogLine[], expectFailure: boolean): string | undefined {
  const fail = (why: string): never => {
    throw new Error(
      `${why}\nhistory:\n${history.map((e) => `  ${e.type} ${'task' in e ? `${e.task}#${e.attempt}` : ''}`).join('\n')}\nlog:\n${log.map((l) => `  ${l.kind} ${l.task} ${l.attempt}`).join('\n')}`,
    );
  };
  const final = history.at(-1);
  if (final?.type !== (expectFailure ? 'run.failed' : 'run.succeeded'))
    fail(`the run did not end ${expectFailure ? 'failed' : 'succeeded'}`);
  const interrupted = history.filter((e) => e.type === 'task.interrupted');
  if (interrupted.length > 1) fail('more than one attempt was interrupted by a single kill');
  const k = interrupted[0]?.type === 'task.interrupted' ? interrupted[0].task : undefined;
  const tasks = [...new Set(history.flatMap((e) => (e.type === 'task.started' ? [e.task] : [])))];
  const expected = expectFailure
    ? ['t1', 't2', 't3', 't4', 't5', 't4.compensate', 't3.compensate', 't2.compensate', 't1.compensate', FINALLY_TASK]
    : [...MAIN_TASKS, FINALLY_TASK];
  if (tasks.join(',') !== expected.join(',')) fail(`tasks ran in the order ${tasks.join(',')}, expected ${expected.join(',')}`);
  for (const task of tasks) {
    const attempts = history.flatMap((e) => (e.type === 'task.started' && e.task === task ? [e.attempt] : []));
    const finished = history.filter((e) => (e.type === 'task.succeeded' || e.type === 'task.failed') && e.task === task);
    const starts = log.filter((l) => l.kind === 'start' && l.task === task);
    if (attempts.join(',') !== attempts.map((_, i) => i + 1).join(',')) fail(`${task}: attempts ${attempts.join(',')} are not 1..n`);
    if (finished.length !== 1) fail(`${task}: ${finished.length} recorded outcomes, expected exactly one`);
    if (task !== k && attempts.length !== 1) fail(`${task}: started ${attempts.length} times although it was not interrupted`);
    if (task === k && attempts.length !== 2) fail(`${task}: interrupted, so expected 2 attempts, got ${attempts.length}`);
    // Every execution was recorded before it began, and no task except k executed twice.
    for (const s of starts) if (!attempts.includes(s.attempt)) fail(`${task}: attempt ${s.attempt} ran without a recorded task.started`);
    if (task !== k && starts.length !== 1) fail(`${task}: executed ${starts.length} times, expected once`);
    const last = attempts.at(-1)!;
    if (!starts.some((s) => s.attempt === last)) fail(`${task}: its recorded outcome's attempt ${last} never executed`);
    if (!log.some((l) => l.kind === 'end' && l.task === task && l.attempt === last))
      fail(`${task}: attempt ${last} did not finish its work`);
  }
  return k;
}
