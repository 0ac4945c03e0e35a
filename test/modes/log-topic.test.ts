// How the log topic's records are cut: each record's JSON within the topic's limit, whatever the lines hold.
import { describe, expect, it } from 'vitest';
import { logRecord, parseLogRecord } from '../../src/core/protocol/log-record.js';
import { splitChunk } from '../../src/modes/kafka/log-topic.js';
import type { AttemptLogChunk } from '../../src/ports/attempt-logs.js';

const chunk = (texts: string[], truncated = false): AttemptLogChunk => ({
  runId: 'run-1',
  task: 'build',
  attempt: 2,
  phase: 'compensate',
  lines: texts.map((text, i) => ({ at: 1_000 + i, stream: i % 2 ? 'stderr' : 'stdout', text })),
  ...(truncated ? { truncated: true } : {}),
});

describe('splitChunk', () => {
  it('keeps a small chunk whole, and its record parses back to it', () => {
    const parts = splitChunk(chunk(['a', 'b'], true), 1_000_000);
    expect(parts).toEqual([chunk(['a', 'b'], true)]);
    const parsed = parseLogRecord(JSON.stringify(logRecord(parts[0]!)));
    expect(parsed).toEqual({ success: true, chunk: chunk(['a', 'b'], true) });
  });

  it('cuts many lines, and one line of control characters, into records within the limit, in order', () => {
    const limit = 8_192;
    const texts = [...Array.from({ length: 200 }, (_, i) => `line ${i} ${'x'.repeat(50)}`), '\u0001'.repeat(20_000), 'last'];
    const parts = splitChunk(chunk(texts, true), limit);
    expect(parts.length).toBeGreaterThan(3);
    for (const p of parts) expect(Buffer.byteLength(JSON.stringify(logRecord(p))) + 'run-1'.length).toBeLessThanOrEqual(limit);
    expect(
      parts
        .flatMap((p) => p.lines)
        .map((l) => l.text)
        .join(''),
    ).toBe(texts.join(''));
    expect(parts.map((p) => p.truncated === true)).toEqual([...parts.slice(1).map(() => false), true]);
  });
});
