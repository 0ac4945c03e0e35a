// Attempt logs through the real embedded runtime: every attempt (main, retries, compensation, finally) keeps its
// own stdout, stderr and ctx.log lines in the store, capped with a marker, and a store that cannot take them
// leaves the run as it would have been.
import { describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';
import type { AttemptLogChunk } from '../../src/ports/attempt-logs.js';
import { truncationMarker } from '../../src/runtime/attempt-log.js';

const retry = { maxAttempts: 2, backoff: { initial: '10ms' } };
const texts = (lines: ReadonlyArray<{ stream: string; text: string }>) => lines.map((l) => `${l.stream}: ${l.text}`);

describe('attempt logs in the embedded runtime', () => {
  it('keeps each attempt its own log: interleaved streams, retries, compensation and finally', async () => {
    const seq = sequence('logged')
      .then(
        'build',
        { run: 'echo out-1; sleep 0.1; echo err-1 >&2; sleep 0.1; echo out-2; sleep 0.1; printf "err-2 no newline" >&2' },
        { compensate: { run: 'echo "undo build"' } },
      )
      .then('flaky', { run: 'echo "try $LOCKSTEP_ATTEMPT"; [ "$LOCKSTEP_ATTEMPT" = 2 ] || { echo "failing" >&2; exit 1; }' }, { retry })
      .then('boom', (ctx) => {
        ctx.log('about to fail', { n: 1 });
        ctx.log('two\nlines');
        throw new Error('boom');
      })
      .finally('cleanup', (ctx) => ctx.log(`cleaning up after ${ctx.phase}`))
      .build();
    const runtime = await createEmbeddedRuntime();
    runtime.register(seq);
    const runId = await runtime.start({ sequence: 'logged', input: null });
    const final = await runtime.orchestrator.waitFor(runId);
    expect(final.type).toBe('run.failed');
    // Read at once: the outcome of each attempt was recorded only after its log.
    const logs = await runtime.store.attemptLogs(runId);
    expect(logs.map((l) => [l.task, l.attempt, l.phase])).toEqual([
      ['build', 1, 'main'],
      ['flaky', 1, 'main'],
      ['flaky', 2, 'main'],
      ['boom', 1, 'main'],
      ['build.compensate', 1, 'compensate'],
      ['cleanup', 1, 'finally'],
    ]);
    const [build, flaky1, flaky2, boom, undo, cleanup] = logs;
    expect(texts(build!.lines)).toEqual(['stdout: out-1', 'stderr: err-1', 'stdout: out-2', 'stderr: err-2 no newline']);
    expect(build!.lines.map((l) => l.at)).toEqual([...build!.lines.map((l) => l.at)].sort((a, b) => a - b));
    expect(build).toMatchObject({ bytes: 5 + 5 + 5 + 16, truncated: false });
    expect(texts(flaky1!.lines)).toEqual(['stdout: try 1', 'stderr: failing']);
    expect(texts(flaky2!.lines)).toEqual(['stdout: try 2']);
    expect(texts(boom!.lines)).toEqual(['log: about to fail { n: 1 }', 'log: two', 'log: lines']);
    expect(texts(undo!.lines)).toEqual(['stdout: undo build']);
    expect(texts(cleanup!.lines)).toEqual(['log: cleaning up after finally']);
    expect(await runtime.store.attemptLogs(runId, { task: 'flaky', attempt: 2 })).toEqual([flaky2]);
    await runtime.close();
  });

  it('caps an attempt at logBytes and ends it with the truncation marker, counting what it dropped', async () => {
    const seq = sequence('loud').then('shout', { run: 'yes abcdefghi | head -n 1000; echo last >&2' }).build();
    const runtime = await createEmbeddedRuntime({ logBytes: 100 });
    runtime.register(seq);
    const final = await runtime.run({ sequence: 'loud', input: null });
    expect(final.type).toBe('run.succeeded');
    const [log] = await runtime.store.attemptLogs(final.runId);
    const marker = truncationMarker(100, 9_000 + 4 - 100);
    expect(marker).toBe('… [lockstep: output truncated after 100 bytes; 8904 bytes dropped]');
    expect(log!.lines).toHaveLength(13);
    expect(log!.lines.slice(0, 11).every((l) => l.stream === 'stdout' && l.text === 'abcdefghi')).toBe(true);
    expect(log!.lines[11]).toMatchObject({ stream: 'stdout', text: 'a' });
    expect(log!.lines[12]).toMatchObject({ stream: 'log', text: marker });
    expect(log).toMatchObject({ truncated: true, bytes: 100 + Buffer.byteLength(marker) });
    await runtime.close();
  });

  it('goes on when the store cannot take logs: the run ends as it would have, and the failure is told once per attempt', async () => {
    class FullDisk extends MemoryRunStore {
      calls = 0;
      override async appendLogs(_chunks: readonly AttemptLogChunk[]): Promise<void> {
        this.calls++;
        throw new Error('SQLITE_FULL: database or disk is full');
      }
    }
    const store = new FullDisk();
    const told: string[] = [];
    const seq = sequence('full')
      .then('a', { run: 'for i in $(seq 1 600); do echo "line $i"; done' })
      .then('b', (ctx) => {
        ctx.log('hello');
        return { ok: true };
      })
      .build();
    const runtime = await createEmbeddedRuntime({
      store,
      onLogError: (task, error) => told.push(`${task.taskId}#${task.attempt}: ${(error as Error).message}`),
    });
    runtime.register(seq);
    const final = await runtime.run({ sequence: 'full', input: null });
    expect(final.type).toBe('run.succeeded');
    expect(told).toEqual(['a#1: SQLITE_FULL: database or disk is full', 'b#1: SQLITE_FULL: database or disk is full']);
    // After the first failure an attempt's log is given up: no write per batch of 600 lines.
    expect(store.calls).toBe(2);
    expect(await store.attemptLogs(final.runId)).toEqual([]);
    await runtime.close();
  });
});
