import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/runtime/simulated-clock.js';

describe('the simulated clock', () => {
  it('fireOne fires only the first of the timers due at the same moment, in arming order', () => {
    const clock = new SimulatedClock(1_000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`second@${clock.now()}`), 5_000);
    clock.setTimeout(() => fired.push(`first@${clock.now()}`), 4_000);
    clock.setTimeout(() => fired.push(`third@${clock.now()}`), 5_000);

    expect(clock.fireOne()).toBe(true);
    expect(fired).toEqual(['first@5000']);
    expect(clock.fireOne()).toBe(true);
    expect(fired).toEqual(['first@5000', 'second@6000']);
    // The other timer due at 6000 waits for a call of its own; time does not move for it.
    expect(clock.pendingTimers).toBe(1);
    expect(clock.now()).toBe(6_000);
    expect(clock.fireOne()).toBe(true);
    expect(fired).toEqual(['first@5000', 'second@6000', 'third@6000']);
    expect(clock.fireOne()).toBe(false);
  });

  it('fireOne lets a timer cancel another due at the same moment before it fires', () => {
    const clock = new SimulatedClock(0);
    const fired: string[] = [];
    let later: unknown;
    clock.setTimeout(() => {
      fired.push('first');
      clock.clearTimeout(later);
    }, 100);
    later = clock.setTimeout(() => fired.push('second'), 100);
    clock.fireOne();
    expect(clock.fireOne()).toBe(false);
    expect(fired).toEqual(['first']);
  });

  it('fireNext fires every timer due at the moment of the next one', () => {
    const clock = new SimulatedClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(1), 100);
    clock.setTimeout(() => fired.push(2), 100);
    clock.setTimeout(() => fired.push(3), 200);
    expect(clock.fireNext()).toBe(true);
    expect(fired).toEqual([1, 2]);
  });
});
