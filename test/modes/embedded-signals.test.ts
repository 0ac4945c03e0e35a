import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { createEmbeddedRunService, createEmbeddedRuntime } from '../../src/modes/embedded/index.js';
import type { RunService } from '../../src/ports/run-service.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-embedded-signals-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const DEFINITION = `
name: approval
tasks:
  - id: approve
    wait:
      signal: true
      schema:
        type: object
        properties: { approver: { type: string, minLength: 1 } }
        required: [approver]
    timeout: 48h
  - id: deploy
    run: sleep 0.5; echo "$LOCKSTEP_RESULT_APPROVE"
`;

async function until<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function served(): Promise<{ runs: RunService; store: SqliteRunStore; path: string }> {
  const path = join(mkdtempSync(join(scratch, 'store-')), 'lockstep.db');
  const store = SqliteRunStore.open(path);
  const runs = await createEmbeddedRunService({ store, sequences: [{ sequence: loadSequenceText(DEFINITION), definition: DEFINITION }] });
  return { runs, store, path };
}

const historyOf = async (runs: RunService, runId: string): Promise<readonly RunEntry[]> => (await runs.getRun(runId))?.history ?? [];
const waiting = (runs: RunService, runId: string) =>
  until(async () => ((await historyOf(runs, runId)).some((e) => e.type === 'task.waiting') ? true : undefined), 'the wait');
const ended = (runs: RunService, runId: string) =>
  until(async () => {
    const detail = await runs.getRun(runId);
    return detail && detail.record.status !== 'running' ? detail : undefined;
  }, 'the end of the run');

describe('embedded RunService.signalRun', () => {
  it('refuses a bad payload with every problem and records nothing, applies a good one, counts a duplicate', async () => {
    const { runs, store } = await served();
    try {
      const runId = await runs.startRun({ sequence: 'approval' });
      await waiting(runs, runId);
      const bad = await runs.signalRun!(runId, { taskId: 'approve', data: { approver: '', extra: 1 } }).catch((e: unknown) => e);
      expect(bad).toMatchObject({ code: 'INVALID_SIGNAL', problems: [{ path: 'data.approver' }] });
      expect(await store.pendingSignals()).toEqual([]);
      const early = await runs.signalRun!(runId, { taskId: 'deploy' }).catch((e: unknown) => e);
      expect(early).toMatchObject({ code: 'INVALID_SIGNAL', problems: [{ path: 'taskId' }] });

      expect(await runs.signalRun!(runId, { taskId: 'approve', data: { approver: 'ana' } })).toEqual({ status: 'applied' });
      // deploy runs for half a second: a second signal meanwhile is a duplicate.
      expect(await runs.signalRun!(runId, { taskId: 'approve', data: { approver: 'bob' } })).toEqual({
        status: 'ignored',
        reason: 'duplicate',
      });
      expect(await store.pendingSignals()).toEqual([]);
      const detail = await ended(runs, runId);
      expect(detail.record.status).toBe('succeeded');
      const deploy = detail.history.find((e) => e.type === 'task.succeeded' && e.task === 'deploy');
      expect(deploy).toMatchObject({ result: { approver: 'ana' } });
      expect(detail.history.filter((e) => e.type === 'event.ignored')).toMatchObject([{ reason: 'duplicate' }]);
      const late = await runs.signalRun!(runId, { taskId: 'approve', data: { approver: 'cy' } }).catch((e: unknown) => e);
      expect(late).toMatchObject({ code: 'RUN_ENDED' });
    } finally {
      await runs.close();
    }
  }, 20_000);

  it('fails a rejected wait for good, and applies within a second a signal another process wrote to the store', async () => {
    const { runs, path } = await served();
    const other = SqliteRunStore.open(path);
    try {
      const rejected = await runs.startRun({ sequence: 'approval' });
      await waiting(runs, rejected);
      expect(await runs.signalRun!(rejected, { taskId: 'approve', reject: 'not today' })).toEqual({ status: 'applied' });
      const failed = await ended(runs, rejected);
      expect(failed.record.status).toBe('failed');
      expect(failed.history.find((e) => e.type === 'task.failed')).toMatchObject({
        task: 'approve',
        willRetry: false,
        error: { code: 'SIGNAL_REJECTED', message: 'rejected: not today' },
      });

      const runId = await runs.startRun({ sequence: 'approval' });
      await waiting(runs, runId);
      const t0 = Date.now();
      await other.addSignal(runId, { taskId: 'approve', data: { approver: 'from afar' } }, t0);
      await until(async () => ((await other.pendingSignals([runId])).length === 0 ? true : undefined), 'the signal to be applied');
      expect(Date.now() - t0).toBeLessThan(1_000);
      const detail = await ended(runs, runId);
      expect(detail.record.status).toBe('succeeded');
      expect(detail.history.find((e) => e.type === 'task.succeeded' && e.task === 'approve')).toMatchObject({
        result: { approver: 'from afar' },
      });
    } finally {
      await other.close();
      await runs.close();
    }
  }, 20_000);
});

describe('the signal inbox of an embedded runtime', () => {
  it('applies a signal again after a crash between applying and removing it: the run ignores it as a duplicate', async () => {
    const store = new MemoryRunStore();
    const runtime = await createEmbeddedRuntime({ store, tracer: false });
    try {
      runtime.register(loadSequenceText(DEFINITION));
      const runId = await runtime.start({ sequence: 'approval' });
      await until(async () => ((await store.get(runId))?.history.some((e) => e.type === 'task.waiting') ? true : undefined), 'the wait');
      const signal = { taskId: 'approve', data: { approver: 'ana' } };
      const added = await store.addSignal(runId, signal, Date.now());
      // Applied, and the process dies before it removes it: the next pass finds it still there.
      expect(await runtime.orchestrator.signal(runId, signal)).toEqual({ status: 'applied' });
      expect(await runtime.applySignals(added.id)).toEqual({ status: 'ignored', reason: 'duplicate' });
      expect(await store.pendingSignals()).toEqual([]);
      expect(runtime.orchestrator.stats.ignored.duplicate).toBe(1);
      const final = await runtime.orchestrator.waitFor(runId);
      expect(final.outcome).toBe('succeeded');
      const history = (await store.get(runId))!.history;
      expect(history.filter((e) => e.type === 'task.succeeded' && e.task === 'approve')).toHaveLength(1);
      expect(history.filter((e) => e.type === 'event.ignored')).toMatchObject([{ reason: 'duplicate' }]);
    } finally {
      await runtime.close();
    }
  }, 20_000);

  it('leaves a signal for a run driven elsewhere, and refuses one with problems without recording it', async () => {
    const store = new MemoryRunStore();
    const runtime = await createEmbeddedRuntime({ store, tracer: false });
    try {
      runtime.register(loadSequenceText(DEFINITION));
      const runId = await runtime.start({ sequence: 'approval' });
      await until(async () => ((await store.get(runId))?.history.some((e) => e.type === 'task.waiting') ? true : undefined), 'the wait');
      const before = (await store.get(runId))!.history.length;
      const refused = await runtime.orchestrator.signal(runId, { taskId: 'approve', data: {} }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'INVALID_SIGNAL', problems: [{ path: 'data.approver' }] });
      expect((await store.get(runId))!.history).toHaveLength(before);
      const elsewhere = await runtime.orchestrator.signal('not-here', { taskId: 'approve' }).catch((e: unknown) => e);
      expect(elsewhere).toMatchObject({ code: 'UNKNOWN_RUN' });

      await store.create({ ...(await store.get(runId))!.record, runId: 'driven-elsewhere' }, []);
      const other = await store.addSignal('driven-elsewhere', { taskId: 'approve', data: { approver: 'x' } }, Date.now());
      expect(await runtime.applySignals(other.id)).toBeUndefined();
      expect(await store.pendingSignals()).toEqual([other]);
    } finally {
      await runtime.close();
    }
  }, 20_000);
});
