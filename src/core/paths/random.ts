import { fnv1a32 } from '../hash.js';

/** A seeded pseudo-random source: the same seed always gives the same sequence. */
export interface Random {
  /** An integer in [0, 2^32). */
  next32(): number;
  /** An integer in [0, n) for n >= 1. */
  below(n: bigint): bigint;
}

/** mulberry32: small and fast, good enough to pick paths. */
export function createRandom(seed: string | number): Random {
  let state = fnv1a32(String(seed));
  const next32 = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    next32,
    below(n) {
      if (n <= 0n) throw new RangeError(`Expected a bound of 1 or more, got ${n}`);
      // 32 spare bits keep the modulo bias below 2^-32.
      let r = 0n;
      for (let bits = 0; bits < n.toString(2).length + 32; bits += 32) r = (r << 32n) | BigInt(next32());
      return r % n;
    },
  };
}
