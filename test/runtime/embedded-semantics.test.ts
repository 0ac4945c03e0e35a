import { describe, expect, it } from 'vitest';
import { TaskFailure } from '../../src/core/errors.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { TaskContext } from '../../src/core/sequence/types.js';
import { harness, idle } from '../support/embedded-harness.js';

type Started = Extract<RunEntry, { type: 'task.started' }>;
const started = (entries: RunEntry[]) => entries.filter((e): e is Started => e.type === 'task.started');
const order = (entries: RunEntry[]) => started(entries).map((e) => e.task);

describe('embedded runtime: order', () => {
  it('never starts a task before its predecessor succeeded, and tasks never overlap', async () => {
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const task = (id: string, ms: number) => async (ctx: TaskContext) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${id}`);
      running--;
      return { id, saw: Object.keys(ctx.results) };
    };
    const seq = sequence('ordered')
      .then('a', task('a', 15))
      .then('b', task('b', 1))
      .then('c', task('c', 8))
      .then('d', task('d', 0))
      .build();
    const h = await harness(seq);
    const runs = await Promise.all([h.run(), h.run(), h.run()]);
    for (const { runId, final } of runs) {
      expect(final.type).toBe('run.succeeded');
      expect(order(h.of(runId))).toEqual(['a', 'b', 'c', 'd']);
      // Each task.started comes after the predecessor's task.succeeded in the run's history.
      const types = h.of(runId, 'task.started', 'task.succeeded').map((e) => `${e.type}:${(e as Started).task}`);
      expect(types).toEqual(['a', 'b', 'c', 'd'].flatMap((t) => [`task.started:${t}`, `task.succeeded:${t}`]));
    }
    const d = h.of(runs[0]!.runId, 'task.succeeded').find((e) => (e as { task: string }).task === 'd') as { result: { saw: string[] } };
    expect(d.result.saw).toEqual(['a', 'b', 'c']);
    // Three runs ran concurrently, but within a run, tasks were strictly sequential.
    expect(maxRunning).toBeLessThanOrEqual(3);
    await h.close();
  });
});

describe('embedded runtime: retries', () => {
  it('honours maxAttempts and the exact backoff delays', async () => {
    const attemptsAt: number[] = [];
    let clockRef: { now(): number } = { now: () => 0 };
    const seq = sequence('flaky')
      .then(
        'flaky',
        () => {
          attemptsAt.push(clockRef.now());
          throw new Error('unavailable');
        },
        { retry: { maxAttempts: 4, backoff: { initial: '1s', factor: 2, max: '3s' } } },
      )
      .then('never', () => 'x')
      .build();
    const h = await harness(seq);
    clockRef = h.clock;
    const { runId, final } = await h.run();
    expect(final.type).toBe('run.failed');
    const t0 = attemptsAt[0]!;
    expect(attemptsAt.map((t) => t - t0)).toEqual([0, 1_000, 3_000, 6_000]);
    const failed = h.of(runId, 'task.failed') as Array<Extract<RunEntry, { type: 'task.failed' }>>;
    expect(failed.map((f) => [f.attempt, f.willRetry, f.retryInMs])).toEqual([
      [1, true, 1_000],
      [2, true, 2_000],
      [3, true, 3_000],
      [4, false, undefined],
    ]);
    expect(order(h.of(runId))).not.toContain('never');
    await h.close();
  });

  it('succeeds on a later attempt and carries on', async () => {
    let calls = 0;
    const seq = sequence('eventually')
      .then(
        'fetch',
        (ctx) => {
          calls++;
          if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`);
          return { ok: ctx.idempotencyKey };
        },
        { retry: { maxAttempts: 5, backoff: { initial: '10m' } } },
      )
      .then('after', (ctx) => ctx.results.fetch)
      .build();
    const h = await harness(seq);
    const { runId, final } = await h.run();
    expect(final.type).toBe('run.succeeded');
    expect(calls).toBe(3);
    const done = h.of(runId, 'task.succeeded') as Array<{ task: string; result: unknown }>;
    expect(done[1]!.result).toEqual({ ok: `${runId}:fetch:3` });
    await h.close();
  });

  it('skips the remaining attempts for a non-retriable failure', async () => {
    let calls = 0;
    const seq = sequence('declined')
      .then(
        'charge',
        () => {
          calls++;
          throw new TaskFailure('card declined', { retriable: false, type: 'CardDeclined' });
        },
        { retry: { maxAttempts: 5 } },
      )
      .build();
    const h = await harness(seq);
    const { runId, final } = await h.run();
    expect(calls).toBe(1);
    expect(final.type).toBe('run.failed');
    const failed = h.of(runId, 'task.failed')[0] as Extract<RunEntry, { type: 'task.failed' }>;
    expect(failed.error).toMatchObject({ message: 'card declined', retriable: false, type: 'CardDeclined', code: 'TASK_FAILED' });
    await h.close();
  });
});

describe('embedded runtime: timeouts', () => {
  it('times out an attempt, aborts its signal, and retries under the policy', async () => {
    const aborted: number[] = [];
    const seq = sequence('slow')
      .then(
        'hang',
        (ctx) =>
          new Promise((_resolve, reject) => {
            if (ctx.attempt === 2) {
              _resolve('fast enough');
              return;
            }
            ctx.signal.addEventListener('abort', () => {
              aborted.push(ctx.attempt);
              reject(new Error('aborted'));
            });
          }),
        { timeout: '30s', retry: { maxAttempts: 2, backoff: { initial: '1s' } } },
      )
      .build();
    const h = await harness(seq);
    const { runId, final } = await h.run();
    expect(final.type).toBe('run.succeeded');
    expect(aborted).toEqual([1]);
    const failed = h.of(runId, 'task.failed') as Array<Extract<RunEntry, { type: 'task.failed' }>>;
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error.code).toBe('TASK_TIMEOUT');
    expect(failed[0]!.durationMs).toBe(30_000);
    // The aborted attempt 1 reported its failure after its timeout had decided it: that report ends the wait for
    // it (it changes nothing else), and only then may attempt 2 start.
    await idle();
    expect(h.of(runId, 'task.stopped')).toMatchObject([
      { task: 'hang', attempt: 1, phase: 'main', how: 'reported', durationMs: 30_000, error: { message: 'aborted' } },
    ]);
    expect(h.of(runId, 'task.failed', 'task.stopped', 'task.started').map((e) => `${e.type} ${'attempt' in e ? e.attempt : ''}`)).toEqual([
      'task.started 1',
      'task.failed 1',
      'task.stopped 1',
      'task.started 2',
    ]);
    expect(h.runtime.orchestrator.stats.ignored.late).toBe(0);
    await h.close();
  });

  it('fails the run when the whole-run timeout fires, and still runs finally tasks', async () => {
    const ran: string[] = [];
    const seq = sequence('bounded', { timeout: '1m' })
      .then('forever', (ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))))
      .finally('cleanup', () => {
        ran.push('cleanup');
      })
      .build();
    const h = await harness(seq);
    const { runId, final } = await h.run();
    expect(final).toMatchObject({ type: 'run.failed', reason: 'run timed out' });
    expect(ran).toEqual(['cleanup']);
    expect(h.of(runId, 'run.timed-out')).toHaveLength(1);
    await h.close();
  });
});
