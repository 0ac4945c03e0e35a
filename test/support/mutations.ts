// Mutations of valid records, for property suites of the wire decoders and the run-state restore.
import fc from 'fast-check';

export type JsonPath = Array<string | number>;

/** Every path into a JSON value, root included; inputs and results are not entered (they are opaque to lockstep). */
export function pathsOf(value: unknown, path: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(path);
  const last = path[path.length - 1];
  if (value !== null && typeof value === 'object' && last !== 'input' && last !== 'result' && path[path.length - 2] !== 'results') {
    for (const [k, v] of Object.entries(value)) pathsOf(v, [...path, Array.isArray(value) ? Number(k) : k], out);
  }
  return out;
}

/** One change to a record's text, at the JSON level or the character level. */
export type Mutation =
  | { readonly kind: 'set' | 'delete' | 'add'; readonly at: number; readonly value: unknown; readonly key: string }
  | { readonly kind: 'truncate' | 'insert' | 'replace'; readonly at: number; readonly char: string };

/** A mutation; `values` are what a field may be changed to (near misses make for deeper checks than noise). */
export const mutationArb = (
  values: fc.Arbitrary<unknown>,
  keys: fc.Arbitrary<string> = fc.string({ maxLength: 8 }),
): fc.Arbitrary<Mutation> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom('set', 'delete', 'add'), at: fc.nat(), value: values, key: keys }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constantFrom('truncate', 'insert', 'replace'),
        at: fc.nat(),
        char: fc.constantFrom('"', '\\', '{', '}', '[', ']', ',', ':', '0', 'x', '\u0000', '\ud800', ' '),
      }),
    },
  );

/** A record's text with the mutation applied; `paths` are the record's (see {@link pathsOf}). */
export function mutate(raw: string, paths: readonly JsonPath[], m: Mutation): string {
  if (m.kind === 'truncate') return raw.slice(0, m.at % (raw.length + 1));
  if (m.kind === 'insert' || m.kind === 'replace') {
    const i = m.at % (raw.length + 1);
    return raw.slice(0, i) + m.char + raw.slice(m.kind === 'replace' ? i + 1 : i);
  }
  const j = m as Extract<Mutation, { value: unknown }>;
  const path = paths[j.at % paths.length]!;
  if (path.length === 0) return j.kind === 'set' ? JSON.stringify(j.value) : raw;
  const copy = JSON.parse(raw) as Record<string | number, unknown>;
  let parent = copy;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (j.kind === 'delete' && !Array.isArray(parent)) delete parent[last];
  else if (j.kind === 'add' && !Array.isArray(parent)) parent[j.key] = j.value;
  else parent[last] = j.value;
  return JSON.stringify(copy);
}

/** A rejection names where the problem is: `path: message` (`not JSON: …` for text that does not parse). */
export const REASON = /^\S[\s\S]*?: \S/;
