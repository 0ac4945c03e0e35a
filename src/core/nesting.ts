import type { Problem } from './sequence/problems.js';
import { formatPath } from './sequence/problems.js';

/**
 * Most levels of nesting (lists and objects inside each other) lockstep accepts in a sequence definition or a
 * run's input. Deeper values cannot be stored or passed safely: serialising them (`JSON.stringify`, the store,
 * the wire) overflows the stack in the thousands of levels, and no real definition or input comes close.
 */
export const MAX_NESTING_DEPTH = 64;

/** The message of a value or text nested past the limit. */
export const nestingMessage = (max: number): string => `nesting deeper than ${max} levels (lists and objects inside each other)`;

/**
 * Checks how deeply a value is nested, and that it does not contain itself (a cycle, which YAML aliases can
 * make). Never recurses more than `max + 1` levels, so it is safe on values of any depth.
 *
 * @returns the problem at the first path past the limit, or `undefined` when the value is within it.
 */
export function nestingProblem(value: unknown, max: number = MAX_NESTING_DEPTH, root: readonly PropertyKey[] = []): Problem | undefined {
  const ancestors = new Set<object>();
  const path: PropertyKey[] = [...root];
  const visit = (v: unknown, depth: number): Problem | undefined => {
    if (v === null || typeof v !== 'object') return undefined;
    if (ancestors.has(v)) return { path: formatPath(path), message: 'refers to itself (a cycle, e.g. a YAML alias inside its own anchor)' };
    if (depth >= max)
      return {
        path: formatPath(path.slice(0, root.length + 8)) + (path.length > root.length + 8 ? '...' : ''),
        message: nestingMessage(max),
      };
    ancestors.add(v);
    try {
      const entries: Iterable<[PropertyKey, unknown]> = Array.isArray(v) ? v.entries() : Object.entries(v);
      for (const [key, child] of entries) {
        path.push(key);
        const found = visit(child, depth + 1);
        path.pop();
        if (found) return found;
      }
      return undefined;
    } finally {
      ancestors.delete(v);
    }
  };
  return visit(value, 0);
}
