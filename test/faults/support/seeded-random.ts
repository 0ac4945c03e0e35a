// Seeded randomness for fault timing: every scenario prints its seed, and `LOCKSTEP_FAULTS_SEED` replays it.

/** A pseudo-random source from a seed (mulberry32): the same seed gives the same fault timing. */
export interface SeededRandom {
  readonly seed: number;
  /** A number in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** The items in a shuffled order (a copy). */
  shuffle<T>(items: readonly T[]): T[];
}

/** A seeded source; the seed is `LOCKSTEP_FAULTS_SEED` when set, else random, and is printed with the scenario's name. */
export function seededRandom(
  scenario: string,
  seed = Number(process.env.LOCKSTEP_FAULTS_SEED ?? Math.floor(Math.random() * 2 ** 31)),
): SeededRandom {
  console.log(`${scenario}: seed ${seed} (LOCKSTEP_FAULTS_SEED=${seed} replays it)`);
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    shuffle<T>(items: readonly T[]): T[] {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
