// The attempt log writer on its own: batches by count and time, keeps order across batches, cuts long lines and
// the cap on character boundaries, and gives up on a sink that fails or hangs without holding the attempt.
import { describe, expect, it } from 'vitest';
import type { AttemptLogChunk } from '../../src/ports/attempt-logs.js';
import { AttemptLogWriter, MAX_LOG_LINE_BYTES, truncationMarker, utf8Prefix } from '../../src/runtime/attempt-log.js';
import { systemClock } from '../../src/runtime/system-clock.js';

const attempt = { runId: 'r1', task: 'build', attempt: 1, phase: 'main' as const };

function recordingSink() {
  const chunks: AttemptLogChunk[] = [];
  return { chunks, appendLogs: async (c: readonly AttemptLogChunk[]) => void chunks.push(...c) };
}

describe('AttemptLogWriter', () => {
  it('hands lines over 100 ms after the first of a batch, and at once every 256 lines, in order', async () => {
    const sink = recordingSink();
    const log = new AttemptLogWriter(attempt, { sink, clock: systemClock });
    log.write('stdout', 'first');
    expect(sink.chunks).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 250));
    expect(sink.chunks.map((c) => c.lines.map((l) => l.text))).toEqual([['first']]);
    for (let i = 0; i < 300; i++) log.write(i % 2 ? 'stderr' : 'stdout', `line ${i}`);
    await new Promise((r) => setImmediate(r));
    expect(sink.chunks.map((c) => c.lines.length)).toEqual([1, 256]);
    await log.close();
    expect(sink.chunks.map((c) => c.lines.length)).toEqual([1, 256, 44]);
    const lines = sink.chunks.flatMap((c) => c.lines);
    expect(lines.map((l) => l.text)).toEqual(['first', ...Array.from({ length: 300 }, (_, i) => `line ${i}`)]);
    expect(lines[2]).toMatchObject({ stream: 'stderr', text: 'line 1' });
    expect(sink.chunks.every((c) => c.runId === 'r1' && c.task === 'build' && !c.truncated)).toBe(true);
  });

  it('cuts a line over 64 KiB, and the cap, without splitting a character, and marks the cut', async () => {
    const sink = recordingSink();
    const log = new AttemptLogWriter(attempt, { sink, clock: systemClock, capBytes: 100_001 });
    const long = 'é'.repeat(MAX_LOG_LINE_BYTES); // 2 bytes each
    log.write('stdout', long);
    await log.close();
    const lines = sink.chunks.flatMap((c) => c.lines);
    const kept = lines.slice(0, -1);
    expect(kept.map((l) => Buffer.byteLength(l.text))).toEqual([MAX_LOG_LINE_BYTES, 100_000 - MAX_LOG_LINE_BYTES]);
    expect(kept.join('')).not.toContain('\uFFFD');
    expect(lines.at(-1)).toEqual({
      at: expect.any(Number),
      stream: 'log',
      text: truncationMarker(100_001, 2 * MAX_LOG_LINE_BYTES - 100_000),
    });
    expect(sink.chunks.at(-1)?.truncated).toBe(true);
    expect(utf8Prefix('aé', 2)).toBe('a');
  });

  it('writes nothing and waits for nothing when the attempt logged nothing', async () => {
    let calls = 0;
    const log = new AttemptLogWriter(attempt, { sink: { appendLogs: async () => void calls++ }, clock: systemClock });
    await log.close();
    expect(calls).toBe(0);
  });

  it('gives up on a sink that hangs once closeTimeoutMs has passed, and tells why', async () => {
    const errors: string[] = [];
    const log = new AttemptLogWriter(attempt, {
      sink: { appendLogs: () => new Promise<void>(() => {}) },
      clock: systemClock,
      closeTimeoutMs: 200,
      onError: (e) => errors.push((e as Error).message),
    });
    log.write('stdout', 'stuck');
    const started = Date.now();
    await log.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(errors).toEqual(['the log of run r1 task "build" attempt 1 was not stored within 200 ms']);
  });
});
