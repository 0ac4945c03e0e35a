/** Options of {@link cachedRead}. */
export interface CachedReadOptions {
  /** A value read this recently is served without reading again. @default 5000 */
  readonly freshMs?: number;
  /** How long a caller waits for a read in flight before it gets the last value. @default 2000 */
  readonly timeoutMs?: number;
  /** A value older than this is no longer served (the series disappear rather than lie). @default 60000 */
  readonly maxAgeMs?: number;
}

/**
 * Wraps a slow read (a broker's offsets) for scrapes: at most one read in flight, a recent value served from the
 * cache, and a caller that never waits longer than `timeoutMs`. A failed read keeps the last good value.
 */
export function cachedRead<T>(read: () => Promise<T>, options: CachedReadOptions = {}): () => Promise<T | undefined> {
  const freshMs = options.freshMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 2000;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  let last: { readonly at: number; readonly value: T } | undefined;
  let inFlight: Promise<void> | undefined;
  const current = () => (last && Date.now() - last.at <= maxAgeMs ? last.value : undefined);
  return async () => {
    if (last && Date.now() - last.at < freshMs) return last.value;
    inFlight ??= read()
      .then(
        (value) => {
          last = { at: Date.now(), value };
        },
        () => {},
      )
      .finally(() => {
        inFlight = undefined;
      });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => {
      timer = setTimeout(r, timeoutMs);
      timer.unref();
    });
    await Promise.race([inFlight, timeout]);
    clearTimeout(timer);
    return current();
  };
}
