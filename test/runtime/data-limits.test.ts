// limits.resultBytes, limits.runBytes and needs through the real embedded runtime: handler and queue results enter
// the run at the same place as shell results, and are refused there, non-retriably, naming the limit.
import { describe, expect, it } from 'vitest';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { TaskContext } from '../../src/core/sequence/types.js';
import { harness } from '../support/embedded-harness.js';

type Failed = Extract<RunEntry, { type: 'task.failed' }>;
const failedOf = (entries: RunEntry[], task: string) => entries.filter((e): e is Failed => e.type === 'task.failed' && e.task === task);
const startsOf = (entries: RunEntry[], task: string) => entries.filter((e) => e.type === 'task.started' && e.task === task);
const retry = { maxAttempts: 3, backoff: { initial: '10ms' } };

describe('data limits in the runtime', () => {
  it('a handler result over the default 1 MiB fails once, non-retriably, with the task, the size and the limit', async () => {
    const seq = sequence('handler-limit')
      .then('build', () => 'x'.repeat(1_234_565), { retry })
      .build();
    const h = await harness(seq);
    const { runId, final } = await h.run();
    expect(final.type).toBe('run.failed');
    expect(startsOf(h.of(runId), 'build')).toHaveLength(1);
    expect(failedOf(h.of(runId), 'build')[0]).toMatchObject({
      willRetry: false,
      error: {
        code: 'RESULT_TOO_LARGE',
        retriable: false,
        message: 'task "build": result is 1,234,567 bytes, over limits.resultBytes 1,048,576',
      },
    });
    await h.close();
  });

  it('a result nested deeper than an input may be fails once, non-retriably, and the run still records and ends', async () => {
    const deep = (n: number): unknown => {
      let value: unknown = 'leaf';
      for (let i = 0; i < n; i++) value = [value];
      return value;
    };
    const seq = sequence('deep-result')
      .then('ok', () => deep(64))
      .then('deep', () => deep(20_000), { retry })
      .build();
    const h = await harness(seq);
    const { runId, final } = await h.run();
    expect(final.type).toBe('run.failed');
    expect(startsOf(h.of(runId), 'deep')).toHaveLength(1);
    expect(failedOf(h.of(runId), 'deep')[0]).toMatchObject({
      willRetry: false,
      error: {
        code: 'INVALID_RESULT',
        retriable: false,
        message: expect.stringMatching(/^task "deep": result\[0\]\[0\].*: nesting deeper than 64 levels/),
      },
    });
    expect(h.of(runId).some((e) => e.type === 'task.succeeded' && e.task === 'ok')).toBe(true);
    await h.close();
  });

  it('a queue result is refused the same way, and a task limit overrides the sequence limit', async () => {
    const seq = sequence('queue-limit', { limits: { resultBytes: '1KiB' } })
      .then('small', { queue: 'remote' }, { retry })
      .then('large', { queue: 'remote' }, { limits: { resultBytes: '8KiB' } })
      .build();
    const h = await harness(seq, {
      queueHandlers: { remote: (ctx: TaskContext) => ({ n: ctx.taskId === 'small' ? 'a'.repeat(2_000) : 'b'.repeat(5_000) }) },
    });
    const { runId, final } = await h.run();
    expect(final.type).toBe('run.failed');
    expect(startsOf(h.of(runId), 'small')).toHaveLength(1);
    expect(failedOf(h.of(runId), 'small')[0]?.error).toMatchObject({
      code: 'RESULT_TOO_LARGE',
      retriable: false,
      message: 'task "small": result is 2,008 bytes, over limits.resultBytes 1,024',
    });

    const seq2 = sequence('queue-limit-2', { limits: { resultBytes: '1KiB' } })
      .then('large', { queue: 'remote' }, { limits: { resultBytes: '8KiB' } })
      .build();
    const h2 = await harness(seq2, { queueHandlers: { remote: () => ({ n: 'b'.repeat(5_000) }) } });
    expect((await h2.run()).final.type).toBe('run.succeeded');
    await h.close();
    await h2.close();
  });

  it('runBytes counts the input and every result; the attempt that would pass it fails naming the limit', async () => {
    const seq = sequence('run-limit', { limits: { runBytes: 10_000 } })
      .then('a', () => 'a'.repeat(3_000))
      .then('b', () => 'b'.repeat(3_000))
      .then('c', () => 'c'.repeat(3_000), { retry })
      .build();
    const h = await harness(seq);
    const { runId, final } = await h.run({ pad: 'i'.repeat(990) });
    expect(final.type).toBe('run.failed');
    expect(startsOf(h.of(runId), 'c')).toHaveLength(1);
    // input {"pad":"i...i"} is 1,000 bytes, each result 3,002
    expect(failedOf(h.of(runId), 'c')[0]?.error).toMatchObject({
      code: 'RUN_DATA_TOO_LARGE',
      retriable: false,
      message: 'task "c": the run\'s data (input and results) would be 10,006 bytes, over limits.runBytes 10,000',
    });
    await h.close();
  });

  it('a result that is not JSON-serialisable fails non-retriably instead of breaking the run', async () => {
    const seq = sequence('bigint')
      .then('a', () => ({ n: 1n }), { retry })
      .build();
    const h = await harness(seq);
    const { runId, final } = await h.run();
    expect(final.type).toBe('run.failed');
    expect(startsOf(h.of(runId), 'a')).toHaveLength(1);
    expect(failedOf(h.of(runId), 'a')[0]?.error).toMatchObject({ code: 'INVALID_RESULT', retriable: false });
    await h.close();
  });

  it('needs: a dispatch carries only the named results (payload.results), the input always; default all', async () => {
    const seen: Record<string, unknown> = {};
    const record = (ctx: TaskContext) => {
      seen[ctx.taskId] = { results: ctx.results, input: ctx.input };
      return { from: ctx.taskId };
    };
    const seq = sequence('needs')
      .then('a', record)
      .then('b', record)
      .then('c', record, { needs: ['a'] })
      .then('d', record)
      .finally('f', record, { needs: ['b', 'd'] })
      .build();
    const h = await harness(seq);
    expect((await h.run({ i: 1 })).final.type).toBe('run.succeeded');
    expect(seen.c).toEqual({ results: { a: { from: 'a' } }, input: { i: 1 } });
    expect(seen.d).toEqual({ results: { a: { from: 'a' }, b: { from: 'b' }, c: { from: 'c' } }, input: { i: 1 } });
    expect(seen.f).toEqual({ results: { b: { from: 'b' }, d: { from: 'd' } }, input: { i: 1 } });
    await h.close();
  });
});
