import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import type { AttemptProcess } from '../../src/ports/attempt-processes.js';
import type { RunRecord, RunStore } from '../../src/ports/run-store.js';

/** Makes a fresh, empty store for one test. */
export type StoreFactory = () => Promise<RunStore>;

let counter = 0;

/** A record as the orchestrator creates it. */
export function record(overrides: Partial<RunRecord> = {}): RunRecord {
  counter++;
  const at = 1_700_000_000_000 + counter * 1_000;
  return {
    runId: `run-${counter}`,
    sequence: 'orders',
    version: '1',
    definition: 'name: orders\ntasks:\n  - id: a\n    run: "true"\n',
    definitionHash: 'ab'.repeat(32),
    source: 'machines/orders.yaml',
    input: { orderId: 'o-1', tags: ['x'] },
    status: 'running',
    createdAt: at,
    updatedAt: at,
    ...overrides,
  };
}

export const started = (runId: string, at: number): RunEntry => ({
  type: 'run.started',
  runId,
  at,
  sequence: 'orders',
  version: '1',
  input: { orderId: 'o-1' },
});
export const taskStarted = (runId: string, at: number, task = 'a', attempt = 1): RunEntry => ({
  type: 'task.started',
  runId,
  at,
  task,
  attempt,
  phase: 'main',
  idempotencyKey: `${runId}:${task}:${attempt}`,
});
export const taskSucceeded = (
  runId: string,
  at: number,
  task = 'a',
  result: unknown = { n: 1, nested: { ok: true, list: [1, 'two', null] } },
): RunEntry => ({
  type: 'task.succeeded',
  runId,
  at,
  task,
  attempt: 1,
  phase: 'main',
  durationMs: 5,
  result,
  event: { type: 'TASK_SUCCEEDED', taskId: task, attempt: 1, result },
});
const taskFailed = (runId: string, at: number): RunEntry => ({
  type: 'task.failed',
  runId,
  at,
  task: 'b',
  attempt: 2,
  phase: 'compensate',
  durationMs: 12,
  willRetry: true,
  retryInMs: 200,
  error: { message: 'exit 1', code: 'TASK_FAILED', retriable: true, type: 'ExitCode', output: 'line 1\nline "2"\n' },
  event: {
    type: 'TASK_FAILED',
    taskId: 'b',
    attempt: 2,
    error: { message: 'exit 1', code: 'TASK_FAILED', retriable: true, type: 'ExitCode', output: 'line 1\nline "2"\n' },
  },
});
const finished = (runId: string, at: number): RunEntry => ({
  type: 'run.failed',
  runId,
  at,
  outcome: 'failed',
  reason: 'b failed',
  durationMs: 40,
  failedTasks: ['b'],
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

/**
 * What every run store must do. Run it from one test file per adapter:
 * `runStoreContract('sqlite', async () => SqliteRunStore.open(path))`.
 */
export function runStoreContract(name: string, factory: StoreFactory): void {
  describe(`RunStore contract: ${name}`, () => {
    let store: RunStore;
    beforeEach(async () => {
      store = await factory();
    });
    afterEach(async () => {
      await store.close();
    });

    it('returns a created run with its record and history exactly as given', async () => {
      const r = record({ rerunOf: 'run-0' });
      const entries = [started(r.runId, r.createdAt), taskStarted(r.runId, r.createdAt)];
      await store.create(r, entries);
      const got = await store.get(r.runId);
      expect(got).toEqual({ record: r, history: entries, states: [undefined, undefined] });
    });

    it('keeps the state value given with each entry, and none for an entry given without one', async () => {
      const r = record();
      const at = r.createdAt;
      const nested = { main: { a: 'running' } };
      await store.create(r, [started(r.runId, at), taskStarted(r.runId, at)], [nested, nested]);
      await store.append(r.runId, [taskSucceeded(r.runId, at + 1)], { currentTask: 'b' }, ['main.b']);
      await store.append(r.runId, [taskStarted(r.runId, at + 2, 'b')]);
      await store.append(r.runId, [finished(r.runId, at + 3)], { status: 'failed' }, ['failed']);
      const got = (await store.get(r.runId))!;
      expect(got.history.map((e) => e.type)).toEqual(['run.started', 'task.started', 'task.succeeded', 'task.started', 'run.failed']);
      expect(got.states).toEqual([nested, nested, 'main.b', undefined, 'failed']);
      // Handed out as copies.
      (got.states as unknown[]).push('changed');
      expect((await store.get(r.runId))!.states).toHaveLength(5);
    });

    it('keeps states in step with entries across many concurrent appends', async () => {
      const runs = Array.from({ length: 20 }, () => record());
      await Promise.all(runs.map((r) => store.create(r, [started(r.runId, r.createdAt)], [`s0-${r.runId}`])));
      for (let step = 1; step <= 5; step++) {
        await Promise.all(
          runs.map((r) =>
            store.append(r.runId, [taskStarted(r.runId, r.createdAt + step, `t${step}`)], undefined, [{ step: `s${step}-${r.runId}` }]),
          ),
        );
      }
      for (const r of runs) {
        const got = (await store.get(r.runId))!;
        expect(got.states).toEqual([`s0-${r.runId}`, ...Array.from({ length: 5 }, (_, i) => ({ step: `s${i + 1}-${r.runId}` }))]);
      }
    });

    it('leaves optional fields out rather than storing them as null', async () => {
      const { source: _source, ...bare } = record();
      await store.create(bare, []);
      const got = (await store.get(bare.runId))!.record;
      expect(got).toEqual(bare);
      expect(Object.keys(got)).not.toContain('source');
      expect(Object.keys(got)).not.toContain('currentTask');
      expect(Object.keys(got)).not.toContain('rerunOf');
    });

    it('returns undefined for an unknown run', async () => {
      expect(await store.get('no-such-run')).toBeUndefined();
    });

    it('refuses to create a run twice and keeps the first one', async () => {
      const r = record();
      await store.create(r, [started(r.runId, r.createdAt)]);
      expect(await codeOf(store.create({ ...r, sequence: 'other' }, [finished(r.runId, r.createdAt)]))).toBe('INVALID_USAGE');
      const got = await store.get(r.runId);
      expect(got?.record.sequence).toBe('orders');
      expect(got?.history).toEqual([started(r.runId, r.createdAt)]);
    });

    it('appends entries in order and keeps every kind of entry intact', async () => {
      const r = record();
      const at = r.createdAt;
      await store.create(r, [started(r.runId, at)]);
      await store.append(r.runId, [taskStarted(r.runId, at + 1), taskSucceeded(r.runId, at + 2)]);
      await store.append(r.runId, [taskFailed(r.runId, at + 3)]);
      await store.append(r.runId, [finished(r.runId, at + 4)]);
      const got = await store.get(r.runId);
      expect(got?.history).toEqual([
        started(r.runId, at),
        taskStarted(r.runId, at + 1),
        taskSucceeded(r.runId, at + 2),
        taskFailed(r.runId, at + 3),
        finished(r.runId, at + 4),
      ]);
      expect(got?.record.updatedAt).toBe(at + 4);
    });

    it('applies status updates: set, keep when absent, clear the current task with null', async () => {
      const r = record();
      await store.create(r, []);
      await store.append(r.runId, [taskStarted(r.runId, r.createdAt + 1, 'a')], { currentTask: 'a' });
      expect((await store.get(r.runId))?.record).toMatchObject({ currentTask: 'a', status: 'running', updatedAt: r.createdAt + 1 });
      await store.append(r.runId, [taskStarted(r.runId, r.createdAt + 2, 'b')], { status: 'running' });
      expect((await store.get(r.runId))?.record.currentTask).toBe('a');
      await store.append(r.runId, [finished(r.runId, r.createdAt + 3)], { status: 'failed', reason: 'b failed', currentTask: 'b' });
      expect((await store.get(r.runId))?.record).toMatchObject({ status: 'failed', reason: 'b failed', currentTask: 'b' });
      await store.append(r.runId, [], { currentTask: null });
      const after = (await store.get(r.runId))!.record;
      expect(Object.keys(after)).not.toContain('currentTask');
      expect(after).toMatchObject({ status: 'failed', reason: 'b failed', updatedAt: r.createdAt + 3 });
    });

    it('keeps appending to a run after the entry that ended it, in one tick or later', async () => {
      const r = record();
      await store.create(r, [started(r.runId, r.createdAt)]);
      await Promise.all([
        store.append(r.runId, [finished(r.runId, r.createdAt + 1)], { status: 'failed' }),
        store.append(r.runId, [taskStarted(r.runId, r.createdAt + 2, 'late')]),
      ]);
      await store.append(r.runId, [taskStarted(r.runId, r.createdAt + 3, 'later')]);
      const got = (await store.get(r.runId))!;
      expect(got.history.map((e) => (e.type === 'task.started' ? e.task : e.type))).toEqual(['run.started', 'run.failed', 'late', 'later']);
      expect(got.record.status).toBe('failed');
    });

    it('rejects an append to an unknown run without losing the appends made with it', async () => {
      const a = record();
      const b = record();
      await store.create(a, []);
      await store.create(b, []);
      const results = await Promise.allSettled([
        store.append(a.runId, [taskStarted(a.runId, a.createdAt)]),
        store.append('ghost', [taskStarted('ghost', a.createdAt)]),
        store.append(b.runId, [taskStarted(b.runId, b.createdAt)]),
      ]);
      expect(results.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(((results[1] as PromiseRejectedResult).reason as { code: string }).code).toBe('UNKNOWN_RUN');
      expect((await store.get(a.runId))?.history).toHaveLength(1);
      expect((await store.get(b.runId))?.history).toHaveLength(1);
      expect(await store.get('ghost')).toBeUndefined();
    });

    it('keeps every append of many concurrent runs, each run in order', async () => {
      const runs = Array.from({ length: 40 }, () => record());
      await Promise.all(runs.map((r) => store.create(r, [started(r.runId, r.createdAt)])));
      for (let step = 1; step <= 10; step++) {
        await Promise.all(
          runs.map((r) => store.append(r.runId, [taskStarted(r.runId, r.createdAt + step, `t${step}`)], { currentTask: `t${step}` })),
        );
      }
      for (const r of runs) {
        const got = await store.get(r.runId);
        expect(got?.history.map((e) => (e.type === 'task.started' ? e.task : e.type))).toEqual([
          'run.started',
          ...Array.from({ length: 10 }, (_, i) => `t${i + 1}`),
        ]);
        expect(got?.record.currentTask).toBe('t10');
      }
    });

    it('lists runs newest first, filtered by status and limited', async () => {
      const [a, b, c] = [record(), record(), record()];
      await store.create(b!, []);
      await store.create(a!, []);
      await store.create(c!, []);
      await store.append(b!.runId, [], { status: 'succeeded' });
      expect((await store.list()).map((r) => r.runId)).toEqual([c!.runId, b!.runId, a!.runId]);
      expect((await store.list({ status: 'running' })).map((r) => r.runId)).toEqual([c!.runId, a!.runId]);
      expect((await store.list({ status: 'succeeded' })).map((r) => r.runId)).toEqual([b!.runId]);
      expect((await store.list({ limit: 2 })).map((r) => r.runId)).toEqual([c!.runId, b!.runId]);
      expect(await store.list({ status: 'cancelled' })).toEqual([]);
    });

    it('filters the list by sequence, id prefix and start time, and pages through it newest first', async () => {
      const runs = [
        record({ runId: 'aa-1', sequence: 'deploy', createdAt: 1_000 }),
        record({ runId: 'ab-2', sequence: 'deploy', createdAt: 2_000 }),
        record({ runId: 'ab-3', sequence: 'hold', createdAt: 2_000 }),
        record({ runId: 'b-4', sequence: 'hold', createdAt: 3_000 }),
      ];
      for (const r of runs) await store.create(r, []);
      const ids = async (filter: Parameters<RunStore['list']>[0]) => (await store.list(filter)).map((r) => r.runId);
      // Same start time: the greater id comes first, so a page boundary between them is exact.
      expect(await ids({})).toEqual(['b-4', 'ab-3', 'ab-2', 'aa-1']);
      expect(await ids({ sequence: 'deploy' })).toEqual(['ab-2', 'aa-1']);
      expect(await ids({ idPrefix: 'ab' })).toEqual(['ab-3', 'ab-2']);
      expect(await ids({ idPrefix: 'a', sequence: 'hold' })).toEqual(['ab-3']);
      expect(await ids({ idPrefix: 'c' })).toEqual([]);
      expect(await ids({ since: 2_000 })).toEqual(['b-4', 'ab-3', 'ab-2']);
      expect(await ids({ until: 2_000 })).toEqual(['aa-1']);
      expect(await ids({ since: 2_000, until: 3_000 })).toEqual(['ab-3', 'ab-2']);
      expect(await ids({ limit: 2 })).toEqual(['b-4', 'ab-3']);
      expect(await ids({ limit: 2, after: { createdAt: 2_000, runId: 'ab-3' } })).toEqual(['ab-2', 'aa-1']);
      expect(await ids({ after: { createdAt: 1_000, runId: 'aa-1' } })).toEqual([]);
      expect(await ids({ sequence: 'hold', after: { createdAt: 3_000, runId: 'b-4' } })).toEqual(['ab-3']);
    });

    it('hands out copies: changing what get or list returned changes nothing stored', async () => {
      const r = record();
      await store.create(r, [started(r.runId, r.createdAt)]);
      const got = (await store.get(r.runId))!;
      (got.record as { status: string }).status = 'failed';
      got.history.push(finished(r.runId, r.createdAt));
      const listed = (await store.list())[0] as { sequence: string };
      listed.sequence = 'changed';
      const again = (await store.get(r.runId))!;
      expect(again.record).toEqual(r);
      expect(again.history).toHaveLength(1);
    });

    it('gives a run lock to one owner at a time', async () => {
      const r = record();
      await store.create(r, []);
      const release = await store.lock(r.runId, 'owner-a');
      expect(await codeOf(store.lock(r.runId, 'owner-b'))).toBe('RUN_LOCKED');
      const again = await store.lock(r.runId, 'owner-a');
      again();
      release();
      const releaseB = await store.lock(r.runId, 'owner-b');
      // A stale release from the earlier holder does not free the new holder's lock.
      release();
      expect(await codeOf(store.lock(r.runId, 'owner-a'))).toBe('RUN_LOCKED');
      releaseB();
      (await store.lock(r.runId, 'owner-a'))();
    });

    it('locks runs independently', async () => {
      const [a, b] = [record(), record()];
      const ra = await store.lock(a!.runId, 'owner-a');
      const rb = await store.lock(b!.runId, 'owner-b');
      ra();
      rb();
    });

    it('records attempt process groups by attempt, replaces a re-recorded one, and clears them', async () => {
      const [a, b] = [record(), record()];
      await store.create(a!, []);
      await store.create(b!, []);
      const group = (runId: string, task: string, attempt: number, pgid: number): AttemptProcess => ({
        runId,
        task,
        attempt,
        pgid,
        startTime: `${pgid}00`,
        bootId: '0b7c-boot',
        host: 'host-1',
        startedAt: 1_700_000_000_000 + pgid,
      });
      expect(await store.attemptProcesses(a!.runId)).toEqual([]);
      await store.recordAttemptProcess(group(a!.runId, 'build', 1, 101));
      await store.recordAttemptProcess(group(a!.runId, 'build.compensate', 1, 102));
      await store.recordAttemptProcess(group(b!.runId, 'build', 1, 201));
      await store.recordAttemptProcess({ ...group(a!.runId, 'build', 1, 103), startTime: null, bootId: null });
      expect(await store.attemptProcesses(a!.runId)).toEqual([
        group(a!.runId, 'build.compensate', 1, 102),
        { ...group(a!.runId, 'build', 1, 103), startTime: null, bootId: null },
      ]);
      await store.clearAttemptProcess(a!.runId, 'build', 1);
      await store.clearAttemptProcess(a!.runId, 'build', 2);
      await store.clearAttemptProcess('no-such-run', 'build', 1);
      expect(await store.attemptProcesses(a!.runId)).toEqual([group(a!.runId, 'build.compensate', 1, 102)]);
      expect(await store.attemptProcesses(b!.runId)).toEqual([group(b!.runId, 'build', 1, 201)]);
      // Handed out as copies.
      ((await store.attemptProcesses(b!.runId))[0] as { pgid: number }).pgid = 9;
      expect((await store.attemptProcesses(b!.runId))[0]!.pgid).toBe(201);
    });

    it('refuses an attempt process of an unknown run', async () => {
      const process: AttemptProcess = {
        runId: 'no-such-run',
        task: 'a',
        attempt: 1,
        pgid: 5,
        startTime: '1',
        bootId: 'b',
        host: 'h',
        startedAt: 1,
      };
      expect(await codeOf(store.recordAttemptProcess(process))).toBe('UNKNOWN_RUN');
      expect(await store.attemptProcesses('no-such-run')).toEqual([]);
    });

    it('keeps attempt logs line by line, attempts in the order they started, across chunks', async () => {
      const r = record();
      await store.create(r, []);
      const at = r.createdAt;
      const build = { runId: r.runId, task: 'build', phase: 'main' as const };
      await store.appendLogs([
        { ...build, attempt: 1, lines: [{ at, stream: 'stdout', text: 'compiling' }] },
        { ...build, attempt: 1, lines: [{ at: at + 1, stream: 'stderr', text: 'warning: é' }] },
      ]);
      await store.appendLogs([
        { ...build, attempt: 2, lines: [{ at: at + 3, stream: 'log', text: '' }] },
        { ...build, attempt: 1, lines: [{ at: at + 2, stream: 'stdout', text: 'cut' }], truncated: true },
        {
          runId: r.runId,
          task: 'build.compensate',
          attempt: 1,
          phase: 'compensate',
          lines: [{ at: at + 4, stream: 'stdout', text: 'undo' }],
        },
      ]);
      const logs = await store.attemptLogs(r.runId);
      expect(logs).toEqual([
        {
          task: 'build',
          attempt: 1,
          phase: 'main',
          lines: [
            { at, stream: 'stdout', text: 'compiling' },
            { at: at + 1, stream: 'stderr', text: 'warning: é' },
            { at: at + 2, stream: 'stdout', text: 'cut' },
          ],
          bytes: 9 + 11 + 3,
          truncated: true,
        },
        { task: 'build', attempt: 2, phase: 'main', lines: [{ at: at + 3, stream: 'log', text: '' }], bytes: 0, truncated: false },
        {
          task: 'build.compensate',
          attempt: 1,
          phase: 'compensate',
          lines: [{ at: at + 4, stream: 'stdout', text: 'undo' }],
          bytes: 4,
          truncated: false,
        },
      ]);
      expect((await store.attemptLogs(r.runId, { task: 'build' })).map((l) => l.attempt)).toEqual([1, 2]);
      expect((await store.attemptLogs(r.runId, { task: 'build', attempt: 2 })).map((l) => l.lines.length)).toEqual([1]);
      expect(await store.attemptLogs(r.runId, { attempt: 3 })).toEqual([]);
      expect(await store.attemptLogs('no-such-run')).toEqual([]);
    });

    it('refuses logs of an unknown run, whole chunks and all', async () => {
      const r = record();
      await store.create(r, []);
      const line = { at: r.createdAt, stream: 'stdout' as const, text: 'x' };
      const chunks = [
        { runId: r.runId, task: 'a', attempt: 1, phase: 'main' as const, lines: [line] },
        { runId: 'no-such-run', task: 'a', attempt: 1, phase: 'main' as const, lines: [line] },
      ];
      expect(await codeOf(store.appendLogs(chunks))).toBe('UNKNOWN_RUN');
      expect(await store.attemptLogs(r.runId)).toEqual([]);
    });

    it('keeps signals until they are removed, in the order they were added, with ids never given twice', async () => {
      const [a, b] = [record(), record()];
      await store.create(a, [started(a.runId, a.createdAt)]);
      await store.create(b, [started(b.runId, b.createdAt)]);
      const first = await store.addSignal(a.runId, { taskId: 'approve', data: { approver: 'ana', n: [1, null] } }, a.createdAt + 1);
      const second = await store.addSignal(b.runId, { taskId: 'approve', reject: 'too risky' }, a.createdAt + 2);
      const third = await store.addSignal(a.runId, { taskId: 'approve' }, a.createdAt + 3);
      expect(first).toEqual({
        id: first.id,
        runId: a.runId,
        signal: { taskId: 'approve', data: { approver: 'ana', n: [1, null] } },
        at: a.createdAt + 1,
      });
      expect(new Set([first.id, second.id, third.id]).size).toBe(3);
      expect(second.id).toBeGreaterThan(first.id);
      expect(third.id).toBeGreaterThan(second.id);
      expect(await store.pendingSignals()).toEqual([first, second, third]);
      expect(await store.pendingSignals([a.runId])).toEqual([first, third]);
      expect(await store.pendingSignals([b.runId, 'no-such-run'])).toEqual([second]);
      expect(await store.pendingSignals([])).toEqual([]);

      await store.removeSignal(first.id);
      await store.removeSignal(first.id);
      expect(await store.pendingSignals()).toEqual([second, third]);
      await store.removeSignal(third.id);
      const fourth = await store.addSignal(a.runId, { taskId: 'later', data: 'x' }, a.createdAt + 4);
      expect(fourth.id).toBeGreaterThan(third.id);
      expect(await store.pendingSignals([a.runId])).toEqual([fourth]);
    });

    it('refuses a signal for an unknown run, and keeps a signal for a run created in the same tick', async () => {
      expect(await codeOf(store.addSignal('no-such-run', { taskId: 'approve' }, 1))).toBe('UNKNOWN_RUN');
      expect(await store.pendingSignals()).toEqual([]);
      const r = record();
      const created = store.create(r, [started(r.runId, r.createdAt)]);
      const added = await store.addSignal(r.runId, { taskId: 'approve' }, r.createdAt);
      await created;
      expect(await store.pendingSignals([r.runId])).toEqual([added]);
    });

    it('hands out copies of signals: changing one changes nothing stored', async () => {
      const r = record();
      await store.create(r, []);
      const data = { approver: 'ana' };
      const added = await store.addSignal(r.runId, { taskId: 'approve', data }, r.createdAt);
      data.approver = 'changed';
      (added.signal.data as { approver: string }).approver = 'changed too';
      const [pending] = await store.pendingSignals();
      expect(pending!.signal).toEqual({ taskId: 'approve', data: { approver: 'ana' } });
    });
  });
}
