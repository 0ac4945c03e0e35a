// Compares the output a doc shows with the output a command printed.

/**
 * What varies from one run to the next, and is replaced in both texts before they are compared: nothing else is.
 * - durations: `(0.1s)`, `12ms`, `1.5 s` -> `<duration>`;
 * - run ids and other UUIDs -> `<uuid>`;
 * - ISO 8601 timestamps -> `<time>`.
 */
const VARYING: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<uuid>'],
  [/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\b/g, '<time>'],
  [/\b\d+(?:\.\d+)? ?(?:ms|s)\b/g, '<duration>'],
];

export function normalise(line: string): string {
  let out = line.trimEnd();
  for (const [pattern, replacement] of VARYING) out = out.replace(pattern, replacement);
  return out;
}

/** A line of `...` (indented or not) in the shown output stands for any number of lines left out, none included. */
const isElision = (line: string) => line.trim() === '...';

/**
 * Whether `printed` is what `shown` shows: line for line after {@link normalise}, where a `...` line of `shown`
 * matches any run of printed lines. Returns `undefined` when it is, else what differs.
 */
export function outputDiff(shown: readonly string[], printed: string): string | undefined {
  const want = trimTrailingEmpty(shown.map(normalise));
  const got = trimTrailingEmpty(printed.split('\n').map(normalise));
  const memo = new Map<string, boolean>();
  const match = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let ok: boolean;
    if (i === want.length) ok = j === got.length;
    else if (isElision(want[i]!)) ok = match(i + 1, j) || (j < got.length && match(i, j + 1));
    else ok = j < got.length && want[i] === got[j] && match(i + 1, j + 1);
    memo.set(key, ok);
    return ok;
  };
  if (match(0, 0)) return undefined;
  // The first shown line that is not printed where it should be, for the message.
  let j = 0;
  for (const [i, line] of want.entries()) {
    if (isElision(line)) continue;
    const at = got.indexOf(line, j);
    if (at < 0) return `line ${i + 1} of the shown output is not printed (after printed line ${j}): ${line}\nprinted:\n${got.join('\n')}`;
    j = at + 1;
  }
  return `the printed lines are not the shown ones in order, or more are printed than shown:\n${got.join('\n')}`;
}

function trimTrailingEmpty(lines: string[]): string[] {
  let n = lines.length;
  while (n > 0 && lines[n - 1] === '') n--;
  return lines.slice(0, n);
}
