import { describe, expect, it } from 'vitest';
import { sequence } from '../../src/core/sequence/builder.js';
import type { Clock } from '../../src/ports/clock.js';
import { SimulatedClock } from '../../src/runtime/simulated-clock.js';
import { systemClock } from '../../src/runtime/system-clock.js';
import type { DueTimer } from '../../src/runtime/timers.js';
import { MAX_TIMER_HOP_MS, TimerService } from '../../src/runtime/timers.js';
import { harness, idle } from '../support/embedded-harness.js';

const DAY = 86_400_000;

/** The real clock, counting the delays it is asked for. */
function countingSystemClock(): Clock & { readonly delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => systemClock.now(),
    setTimeout: (cb, ms) => (delays.push(ms), systemClock.setTimeout(cb, ms)),
    clearTimeout: (h) => systemClock.clearTimeout(h),
  };
}

describe('long timers on the simulated clock', () => {
  it("keeps Node's limit on one setTimeout: a delay above 2^31-1 ms runs after 1 ms", () => {
    const clock = new SimulatedClock(0);
    let firedAt: number | undefined;
    clock.setTimeout(() => (firedAt = clock.now()), 25 * DAY);
    clock.advance(5);
    expect(firedAt).toBe(1);
  });

  it.each([25, 100, 365])('fires a %d-day timer at its due time, not one millisecond before', (days) => {
    const clock = new SimulatedClock(1_000);
    const fired: Array<{ timer: DueTimer; at: number }> = [];
    const timers = new TimerService(clock, (timer) => fired.push({ timer, at: clock.now() }));
    const dueAt = 1_000 + days * DAY;
    timers.arm({ runId: 'r', timerId: 't', dueAt });
    clock.advance(days * DAY - 1);
    expect(fired).toEqual([]);
    expect(timers.size).toBe(1);
    clock.advance(1);
    expect(fired).toEqual([{ timer: { runId: 'r', timerId: 't', dueAt }, at: dueAt }]);
    expect(timers.size).toBe(0);
  });

  it('disarms a long timer between hops', () => {
    const clock = new SimulatedClock(0);
    const fired: DueTimer[] = [];
    const timers = new TimerService(clock, (t) => fired.push(t));
    timers.arm({ runId: 'r', timerId: 't', dueAt: 300 * DAY });
    clock.advance(MAX_TIMER_HOP_MS + 10);
    timers.disarm('r', 't');
    clock.advance(400 * DAY);
    expect(fired).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a 25d task timeout through the runtime: the task still runs after 24 days, and times out at 25 days', async () => {
    let started = 0;
    const wait = ({ signal }: { signal: AbortSignal }) =>
      new Promise((_resolve, reject) => {
        started++;
        signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
      });
    const seq = sequence('long', {}).then('wait', wait, { timeout: '25d' }).build();
    const h = await harness(seq);
    try {
      const runId = await h.runtime.start({ sequence: 'long' });
      await idle(20);
      expect(started).toBe(1);
      const start = h.clock.now();
      h.clock.advance(25 * DAY - 1);
      await idle(20);
      expect(h.of(runId, 'task.failed', 'run.failed')).toEqual([]);
      h.clock.advance(1);
      await idle(20);
      const [failed] = h.of(runId, 'task.failed');
      expect(failed).toMatchObject({ task: 'wait', error: { code: 'TASK_TIMEOUT' } });
      expect(failed!.at - start).toBe(25 * DAY);
    } finally {
      await h.close();
    }
  });
});

describe('long timers on the real clock', () => {
  it('chains hops with the real setTimeout and fires only once now() has reached the due time', async () => {
    const clock = countingSystemClock();
    const dueAt = Date.now() + 230;
    const fired = await new Promise<number>((resolve) => {
      new TimerService(clock, () => resolve(Date.now()), { maxHopMs: 40 }).arm({ runId: 'r', timerId: 't', dueAt });
    });
    expect(fired).toBeGreaterThanOrEqual(dueAt);
    expect(fired - dueAt).toBeLessThan(200);
    // 230 ms in hops of at most 40 ms: at least six of them.
    expect(clock.delays.length).toBeGreaterThanOrEqual(6);
    expect(Math.max(...clock.delays)).toBeLessThanOrEqual(40);
  });

  it('never hands the real setTimeout a delay above 2^31-1 ms, and a 25-day timer does not fire early', async () => {
    const clock = countingSystemClock();
    let fired = false;
    const timers = new TimerService(clock, () => (fired = true));
    timers.arm({ runId: 'r', timerId: 't', dueAt: Date.now() + 25 * DAY });
    await new Promise((r) => setTimeout(r, 100));
    expect(fired).toBe(false);
    expect(clock.delays).toEqual([MAX_TIMER_HOP_MS]);
    timers.clear();
  });
});
