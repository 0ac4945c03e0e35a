import type { z } from 'zod';
import { formatProblems, problemsFromIssues } from '../sequence/problems.js';

/**
 * Parses a record's JSON text against a schema. Never throws: malformed input yields the reason, each problem
 * named by its path (`payload.sequence: expected a string, got 1`), on one line.
 */
export function parseRecord<S extends z.ZodType>(schema: S, raw: string): { success: true; data: z.infer<S> } | { success: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    return { success: false, reason: `not JSON: ${(error as Error).message}` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { success: false, reason: formatProblems(problemsFromIssues(parsed.error.issues, json)).replace(/\n/g, '; ') };
  return { success: true, data: parsed.data as z.infer<S> };
}
