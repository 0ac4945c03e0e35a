import { describe, expect, it } from 'vitest';
import { LockstepError } from '../../../src/core/errors.js';
import { parseEnvelope } from '../../../src/core/protocol/envelope.js';
import { acceptTraceparent, attemptTraceparent, runTrace, traceparentProblem } from '../../../src/core/trace/traceparent.js';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('traceparent', () => {
  it('accepts the W3C form and says precisely what is wrong with others', () => {
    expect(traceparentProblem(VALID)).toBeUndefined();
    expect(traceparentProblem('hello')).toBe(
      'expected "00-<32 hex digits trace id>-<16 hex digits parent id>-<2 hex digits flags>" (W3C Trace Context), lowercase, got "hello"',
    );
    expect(traceparentProblem(VALID.toUpperCase())).toMatch(/^expected .*lowercase, got "00-0AF7/);
    expect(traceparentProblem(`00-${'0'.repeat(32)}-${SPAN}-01`)).toMatch(/^the trace id must not be all zeros/);
    expect(traceparentProblem(`00-${TRACE}-${'0'.repeat(16)}-01`)).toMatch(/^the parent id must not be all zeros/);
    expect(traceparentProblem(`ff-${TRACE}-${SPAN}-01`)).toMatch(/^version "ff" is invalid/);
    expect(traceparentProblem(`00-${TRACE}-${SPAN}-01-extra`)).toMatch(/^version 00 has exactly four fields/);
    // A later version may carry more fields: they are dropped.
    expect(acceptTraceparent(`01-${TRACE}-${SPAN}-01-extra`, 'x')).toBe(VALID);
    expect(() => acceptTraceparent('nope', '--traceparent')).toThrow(LockstepError);
    expect(() => acceptTraceparent('nope', '--traceparent')).toThrow(/^--traceparent: expected "00-/);
  });

  it('derives a run trace from the run id alone, or joins the traceparent it started with', () => {
    const own = runTrace('run-1');
    expect(own).toEqual(runTrace('run-1'));
    expect(own.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(own.rootSpanId).toMatch(/^[0-9a-f]{16}$/);
    expect(own).not.toHaveProperty('parentSpanId');
    expect(own.flags).toBe('01');
    expect(runTrace('run-2').traceId).not.toBe(own.traceId);
    const joined = runTrace('run-1', `00-${TRACE}-${SPAN}-00`);
    expect(joined).toEqual({ traceId: TRACE, rootSpanId: own.rootSpanId, parentSpanId: SPAN, flags: '00' });
    const a1 = attemptTraceparent('run-1', VALID, 'main', 'charge', 1);
    expect(a1).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(attemptTraceparent('run-1', VALID, 'main', 'charge', 2)).not.toBe(a1);
    expect(attemptTraceparent('run-1', VALID, 'main', 'charge', 1)).toBe(a1);
  });

  it('is checked where it enters over the wire: run.start and task.dispatch', () => {
    const start = (traceparent: string) =>
      JSON.stringify({ v: 1, id: 'm1', runId: 'r1', time: 't', type: 'run.start', payload: { sequence: 's', traceparent } });
    expect(parseEnvelope(start(VALID))).toMatchObject({ success: true, envelope: { payload: { traceparent: VALID } } });
    const bad = parseEnvelope(start('00-xyz'));
    expect(bad.success).toBe(false);
    expect(!bad.success && bad.reason).toContain('payload.traceparent');
  });
});
