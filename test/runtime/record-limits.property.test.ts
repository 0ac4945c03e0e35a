// The bounded records behind "no message wedges a partition": dead letters that always fit, UTF-8 prefixes,
// reduced run states and bounded event text.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/protocol/envelope.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import { parseRunState } from '../../src/core/protocol/run-state.js';
import { reducedRunState } from '../../src/runtime/journals/kafka/reduced-run-state.js';
import { boundedEvent, cut, deadLetterRecord, recordBytes, tooLarge, utf8Prefix } from '../../src/runtime/record-limits.js';

const source = (raw: string, key: string | null = 'k') => ({ topic: 'p.events', partition: 3, offset: '42', key, raw });

describe('dead letters', () => {
  it("keep a 16 KiB prefix of a large text, with the whole text's size and sha256", () => {
    const raw = JSON.stringify(Array.from({ length: 300_000 }, () => ''));
    const record = deadLetterRecord('p.dead-letter', source(raw), 'why', 0, 1_048_332);
    const value = record.value as DeadLetter;
    expect(value).toMatchObject({
      rawBytes: 900_001,
      rawSha256: createHash('sha256').update(raw).digest('hex'),
      rawTruncated: true,
      reason: 'why',
    });
    expect(raw.startsWith(value.raw)).toBe(true);
    expect(Buffer.byteLength(value.raw)).toBe(16_384);
    // JSON-escaped, the whole text would have been ~1.5 MB.
    expect(recordBytes(record)).toBeLessThan(40_000);
  });

  it('always fit the limit they are given, whatever the text, reason and key', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 800 }),
        fc.string({ maxLength: 2_500 }),
        fc.option(fc.string({ maxLength: 400 })),
        fc.integer({ min: 700, max: 40_000 }),
        (raw, reason, key, limit) => {
          const record = deadLetterRecord('p.dead-letter', source(raw, key), reason, 0, limit);
          const value = record.value as DeadLetter;
          expect(recordBytes(record)).toBeLessThanOrEqual(limit);
          expect(raw.startsWith(value.raw)).toBe(true);
          expect(value.rawTruncated).toBe(value.raw.length < raw.length);
          expect(value.rawBytes).toBe(Buffer.byteLength(raw));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('replace a key longer than 256 characters by its sha256', () => {
    const key = 'k'.repeat(300);
    expect(deadLetterRecord('t', source('x', key), 'r', 0).key).toBe(`sha256:${createHash('sha256').update(key).digest('hex')}`);
    expect(deadLetterRecord('t', source('x', null), 'r', 0).key).toBe('unknown');
  });
});

describe('utf8Prefix', () => {
  it('is the longest start of the text within the byte budget, never splitting a character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.integer({ min: 0, max: 400 }), (text, max) => {
        const prefix = utf8Prefix(text, max);
        expect(text.startsWith(prefix)).toBe(true);
        expect(Buffer.byteLength(prefix)).toBeLessThanOrEqual(max);
        if (prefix.length < text.length) {
          const next = text.codePointAt(prefix.length)!;
          expect(Buffer.byteLength(prefix) + Buffer.byteLength(String.fromCodePoint(next))).toBeGreaterThan(max);
        }
      }),
      { numRuns: 10_000 },
    );
    expect(utf8Prefix('aé😀b', 3)).toBe('aé');
    expect(utf8Prefix('aé😀b', 6)).toBe('aé');
    expect(utf8Prefix('aé😀b', 7)).toBe('aé😀');
  });
});

describe('reduced run states', () => {
  const state = (results: Record<string, unknown>, input: unknown): RunState => ({
    v: 1,
    type: 'run.state',
    runId: 'r',
    time: 't',
    sequence: 's',
    version: '1',
    status: 'failed',
    createdAt: 0,
    updatedAt: 1,
    snapshot: { value: 'failed', context: { runId: 'r', input, results, completed: ['a', 'b'] }, status: 'done' },
    timers: {},
    attemptStartedAt: 0,
    completions: ['a:1', 'b:1'],
    final: { outcome: 'failed', reason: 'task c failed: too large', durationMs: 1, failedTasks: ['c'] },
  });
  const fitsUnder = (bytes: number) => (s: RunState) => Buffer.byteLength(JSON.stringify(s)) <= bytes;

  it('leave out the results first, then the input, then the snapshot, and say so', () => {
    const big = state({ a: 'x'.repeat(5_000), b: 'y'.repeat(5_000) }, { order: 'z'.repeat(3_000) });
    const one = reducedRunState(big, 'why', fitsUnder(4_000));
    expect(one.reduced).toEqual({ reason: 'why', dropped: ['snapshot.context.results'] });
    expect(one.snapshot.context).toMatchObject({ results: {}, input: { order: 'z'.repeat(3_000) }, completed: ['a', 'b'] });
    expect(one.final).toEqual(big.final);
    const two = reducedRunState(big, 'why', fitsUnder(2_000));
    expect(two.reduced!.dropped).toEqual(['snapshot.context.results', 'snapshot.context.input']);
    expect(two.snapshot.context).toMatchObject({ results: {}, input: null });
    const three = reducedRunState(big, 'why', fitsUnder(100));
    expect(three.reduced!.dropped).toEqual(['snapshot', 'timers', 'completions']);
    expect(three).toMatchObject({ status: 'failed', final: big.final, snapshot: { context: { runId: 'r' } } });
  });

  it('a finished run stored without its snapshot still parses; a running one is refused with the reason', () => {
    const three = reducedRunState(state({ a: 'x'.repeat(5_000) }, null), 'why', fitsUnder(100));
    expect(parseRunState(JSON.stringify(three))).toMatchObject({ success: true });
    const running = { ...three, status: 'running', final: undefined, snapshot: { ...three.snapshot, status: 'active' } };
    expect(parseRunState(JSON.stringify(running))).toMatchObject({
      success: false,
      reason: expect.stringContaining('reduced.dropped: expected a snapshot: a running run stored without one cannot be restored'),
    });
  });
});

describe('bounded event text', () => {
  it('cuts failure messages and cancel reasons, saying how much was left out', () => {
    const failed = boundedEvent({
      type: 'TASK_FAILED',
      taskId: 't',
      attempt: 1,
      error: { message: 'm'.repeat(100_000), retriable: false },
    });
    expect(failed.type === 'TASK_FAILED' && failed.error.message.length).toBe(8_192);
    expect(failed.type === 'TASK_FAILED' && failed.error.message.endsWith('... (91,808 more characters)')).toBe(true);
    expect(failed.type === 'TASK_FAILED' && failed.error.retriable).toBe(false);
    const cancel = boundedEvent({ type: 'CANCEL', reason: 'r'.repeat(5_000) });
    expect(cancel.type === 'CANCEL' && cancel.reason!.length).toBe(1_024);
    const small = { type: 'TASK_FAILED' as const, taskId: 't', attempt: 1, error: { message: 'short' } };
    expect(boundedEvent(small)).toBe(small);
    expect(cut('abc', 3)).toBe('abc');
  });

  it('names the record, its size and the limit', () => {
    expect(tooLarge('run.state record of run r', 1_201_351, 1_048_332, 'p.runs')).toBe(
      'run.state record of run r is 1,201,351 bytes, over the 1,048,332-byte limit of p.runs',
    );
  });
});
