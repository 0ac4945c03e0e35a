// The benches' one percentile: the nearest-rank value of a sample, which it sorts a copy of.

/** The `p`th percentile (0-100) of `xs`, nearest rank; `undefined` for an empty sample. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
