import { describe, expect, it } from 'vitest';
import { MemoryTransport } from '../../../src/adapters/memory/memory-transport.js';
import { ErrorCode, LockstepError } from '../../../src/core/errors.js';
import { envelope } from '../../../src/runtime/messages.js';

const event = (runId: string) => ({ topic: 't', key: runId, value: envelope({ type: 'run.cancel', runId, payload: { reason: 'x' } }, 0) });

/** A transport whose handler always throws `error`: how often it was called, and what reached onError, over `ms`. */
async function failing(error: unknown, ms: number) {
  const reported: Array<{ error: unknown; topic: string; group: string }> = [];
  const transport = new MemoryTransport({
    redeliveryDelayMs: 10,
    maxRedeliveries: 3,
    onError: (e, where) => reported.push({ error: e, ...where }),
  });
  let calls = 0;
  await transport.subscribe({ topic: 't', group: 'g' }, async () => {
    calls++;
    throw error;
  });
  await transport.publish([event('r1')]);
  await new Promise((r) => setTimeout(r, ms));
  await transport.close();
  return { calls, reported };
}

describe('the in-process transport on a handler that keeps failing', () => {
  it('stops at once on a non-retriable error, and reports it', async () => {
    const full = new LockstepError(
      ErrorCode.storeFull,
      'run store /x/lockstep.db: committing run history failed: database or disk is full (SQLITE_FULL)',
    );
    const { calls, reported } = await failing(full, 300);
    expect(calls).toBe(1);
    expect(reported).toEqual([{ error: full, topic: 't', group: 'g' }]);
  });

  it('redelivers a retriable error a bounded number of times, with a growing delay, then reports it', async () => {
    const busy = new LockstepError(ErrorCode.storeUnavailable, 'busy', { retriable: true });
    // 10 + 20 + 40 ms of delays: all four deliveries are over well within 500 ms.
    const { calls, reported } = await failing(busy, 500);
    expect(calls).toBe(4);
    expect(reported.map((r) => r.error)).toEqual([busy]);
  });

  it('refuses to publish once closed, with a non-retriable error', async () => {
    const transport = new MemoryTransport();
    await transport.close();
    await expect(transport.publish([event('r')])).rejects.toMatchObject({ code: ErrorCode.transportUnavailable, retriable: false });
  });
});
