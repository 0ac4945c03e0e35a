import type { z } from 'zod';
import { formatPath, formatProblems, problemsFromIssues } from '../sequence/problems.js';

/**
 * How deep the arrays and objects of a message may nest: 1,000 levels. JSON.parse takes any depth, but
 * serialising a value nested a few thousand levels deep overflows the stack, so a deeper message would be
 * accepted and then break the orchestrator that writes it on.
 */
export const MAX_RECORD_DEPTH = 1_000;

/**
 * How deep the records orchestrators derive from messages may nest: dispatches and run states wrap the inputs
 * and results that messages carried a few levels deeper, so they may nest {@link MAX_RECORD_DEPTH} + 10 levels.
 */
export const DERIVED_MAX_DEPTH = MAX_RECORD_DEPTH + 10;

/** The reason for a text nested deeper than `limit`, first at offset `at`. */
export const tooDeep = (limit: number, at: number): string => `(root): nested deeper than ${limit} levels (at character ${at})`;

/** A reason names at most this many problems, then says how many more there were: dead letters stay small. */
const MAX_PROBLEMS = 5;
/** And has at most this many characters (a path can hold a long key). */
const MAX_REASON = 2_000;

const bounded = (reason: string): string => (reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 3)}...` : reason);

// A number literal that may overflow a double: an exponent of three digits, or 309 digits in a row.
const OVERFLOW = /\d[eE][+-]?\d{3}|\d{309}/;

/**
 * The path of the first number in a parsed value that overflowed to ±Infinity, if any. JSON.parse reads `1e999`
 * as Infinity, which serialises as `null`: accepting it would change the data on its way through.
 */
function infinityAt(value: unknown): string | undefined {
  const stack: Array<[unknown, PropertyKey[]]> = [[value, []]];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'number' && !Number.isFinite(v)) return formatPath(path);
    if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) stack.push([child, [...path, Array.isArray(v) ? Number(k) : k]]);
    }
  }
  return undefined;
}

/** True when `text` has more than `limit` opening brackets (`{` or `[`), wherever they are. */
function moreOpenersThan(text: string, limit: number): boolean {
  let count = 0;
  for (const bracket of ['{', '[']) {
    for (let i = text.indexOf(bracket); i !== -1; i = text.indexOf(bracket, i + 1)) if (++count > limit) return true;
  }
  return false;
}

/** Where a JSON text first nests deeper than `limit` (the offset of the bracket), if it does. Scans without parsing. */
export function nestingBeyond(text: string, limit: number): number | undefined {
  // The depth never exceeds the number of opening brackets: most records have few, counted natively, so the
  // character-by-character scan below runs only for a text that could nest too deep.
  if (!moreOpenersThan(text, limit)) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

/**
 * Checks a value against a schema: its output, or its issues. Cheaper than `safeParse` when the value is
 * rejected (no `ZodError` is built, so no stack trace is taken), which is what a flood of bad messages costs.
 */
export function check<S extends z.ZodType>(
  schema: S,
  value: unknown,
): { success: true; data: z.infer<S> } | { success: false; issues: z.core.$ZodIssue[] } {
  const result = schema['~standard'].validate(value);
  // lockstep's schemas have no asynchronous refinements: a promise here is a bug, reported as a rejection.
  if (result instanceof Promise)
    return { success: false, issues: [{ code: 'custom', path: [], message: 'the schema is asynchronous', input: value }] };
  if (result.issues) return { success: false, issues: result.issues as z.core.$ZodIssue[] };
  return { success: true, data: result.value as z.infer<S> };
}

/**
 * Parses a record's JSON text against a schema. Never throws: malformed input yields the reason, each problem
 * named by its path (`payload.sequence: expected a string, got 1`), on one line.
 */
export function parseRecord<S extends z.ZodType>(
  schema: S,
  raw: string,
  options: { maxDepth?: number } = {},
): { success: true; data: z.infer<S> } | { success: false; reason: string } {
  const maxDepth = options.maxDepth ?? MAX_RECORD_DEPTH;
  const deep = nestingBeyond(raw, maxDepth);
  if (deep !== undefined) return { success: false, reason: tooDeep(maxDepth, deep) };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    return { success: false, reason: bounded(`not JSON: ${(error as Error).message}`) };
  }
  const infinite = OVERFLOW.test(raw) ? infinityAt(json) : undefined;
  if (infinite !== undefined) return { success: false, reason: bounded(`${infinite}: a number too large for JSON (it reads as Infinity)`) };
  const parsed = check(schema, json);
  if (!parsed.success) {
    const problems = problemsFromIssues(parsed.issues, json);
    const shown = formatProblems(problems.slice(0, MAX_PROBLEMS)).replace(/\n/g, '; ');
    const more = problems.length - MAX_PROBLEMS;
    return { success: false, reason: bounded(more > 0 ? `${shown}; and ${more} more problem${more === 1 ? '' : 's'}` : shown) };
  }
  return { success: true, data: parsed.data };
}
