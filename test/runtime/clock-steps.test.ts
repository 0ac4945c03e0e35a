import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/ports/clock.js';
import { systemClock } from '../../src/runtime/system-clock.js';
import { TimerService } from '../../src/runtime/timers.js';

const HOUR = 3_600_000;

/** The real timers under a wall clock that can be stepped, as NTP or a restored VM steps it. */
function steppableClock(): Clock & { step(ms: number): void } {
  let offset = 0;
  return {
    now: () => systemClock.now() + offset,
    setTimeout: (cb, ms) => systemClock.setTimeout(cb, ms),
    clearTimeout: (h) => systemClock.clearTimeout(h),
    step: (ms) => {
      offset += ms;
    },
  };
}

/** Arms a timer `waitMs` from now, steps the clock by `stepMs` after `stepAfterMs`, and resolves with the real wait. */
function waitWithStep(waitMs: number, stepAfterMs: number, stepMs: number, maxHopMs?: number): Promise<number> {
  const clock = steppableClock();
  const start = performance.now();
  return new Promise((resolve) => {
    const timers = new TimerService(clock, () => resolve(performance.now() - start), maxHopMs ? { maxHopMs } : {});
    timers.arm({ runId: 'r', timerId: 't', dueAt: clock.now() + waitMs });
    setTimeout(() => clock.step(stepMs), stepAfterMs);
  });
}

describe('timers across a step of the wall clock', () => {
  it('a clock set back an hour does not delay a timer by the hour', async () => {
    const waited = await waitWithStep(400, 100, -HOUR);
    expect(waited).toBeGreaterThanOrEqual(399);
    expect(waited).toBeLessThan(10_000);
  });

  it('a clock set back an hour does not delay a chained timer either', async () => {
    const waited = await waitWithStep(400, 150, -HOUR, 100);
    expect(waited).toBeGreaterThanOrEqual(399);
    expect(waited).toBeLessThan(10_000);
  });

  it('a clock set forward an hour does not make a chained timer fire before its wait is over', async () => {
    const waited = await waitWithStep(600, 50, HOUR, 100);
    expect(waited).toBeGreaterThanOrEqual(599);
  });

  it('a clock set forward an hour does not make a timer fire early', async () => {
    const waited = await waitWithStep(400, 100, HOUR);
    expect(waited).toBeGreaterThanOrEqual(399);
  });
});
