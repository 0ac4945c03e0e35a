import { describe, expect, it } from 'vitest';
import { cachedRead } from '../../../src/adapters/prometheus/index.js';

const later = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms));

describe('cachedRead', () => {
  it('serves a fresh value from the cache, and reads again once it is stale', async () => {
    let reads = 0;
    const read = cachedRead(async () => ++reads, { freshMs: 300, timeoutMs: 1000 });
    expect(await read()).toBe(1);
    expect(await read()).toBe(1);
    await later(400, null);
    expect(await read()).toBe(2);
  });

  it('never waits longer than its timeout for a slow read: the caller gets the last value, or none', async () => {
    let delay = 0;
    let reads = 0;
    const read = cachedRead(() => later(delay, ++reads), { freshMs: 0, timeoutMs: 50 });
    expect(await read()).toBe(1);
    delay = 1000;
    const began = Date.now();
    expect(await read()).toBe(1);
    expect(Date.now() - began).toBeLessThan(500);
    // The slow read is still in flight: no second one starts beside it.
    expect(await read()).toBe(1);
    expect(reads).toBe(2);

    const never = cachedRead(() => later(1000, 'late'), { timeoutMs: 50 });
    expect(await never()).toBeUndefined();
  });

  it('keeps the last good value when a read fails, until it is older than maxAgeMs', async () => {
    let fail = false;
    const read = cachedRead(async () => (fail ? Promise.reject(new Error('broker down')) : 'ok'), {
      freshMs: 0,
      timeoutMs: 100,
      maxAgeMs: 300,
    });
    expect(await read()).toBe('ok');
    fail = true;
    expect(await read()).toBe('ok');
    await later(400, null);
    expect(await read()).toBeUndefined();
  });
});
