import { parseDocument } from 'yaml';
import { DefinitionError } from '../errors.js';
import { normalise, SequenceFileSchema } from './schema.js';
import type { Problem } from './problems.js';
import { problemsFromIssues } from './problems.js';
import { structuralProblems } from './structure.js';
import type { Sequence } from './types.js';

/** Result of validation: a union, never a throw. */
export type ValidationResult =
  | { readonly success: true; readonly sequence: Sequence }
  | { readonly success: false; readonly problems: readonly Problem[] };

/** Validates a sequence object (parsed YAML/JSON or builder output) and reports every problem at once. */
export function validateSequence(raw: unknown): ValidationResult {
  const parsed = SequenceFileSchema.safeParse(raw);
  const problems = [...(parsed.success ? [] : problemsFromIssues(parsed.error.issues, raw)), ...structuralProblems(raw)];
  if (!parsed.success || problems.length > 0) return { success: false, problems: sortByPath(problems) };
  return { success: true, sequence: normalise(parsed.data) };
}

/** Parses YAML or JSON text (JSON is YAML) into a raw object, reporting syntax errors with line and column. */
export function parseDefinitionText(text: string): { success: true; value: unknown } | { success: false; problems: Problem[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      success: false,
      problems: doc.errors.map((e) => ({
        path: e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '(syntax)',
        message: (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, ''),
      })),
    };
  }
  return { success: true, value: doc.toJS() };
}

/**
 * Parses and validates the text of a sequence file.
 *
 * @throws DefinitionError with every problem when the text is not a valid sequence.
 */
export function loadSequenceText(text: string, source?: string): Sequence {
  const raw = parseDefinitionText(text);
  if (!raw.success) throw new DefinitionError(raw.problems, source);
  const result = validateSequence(raw.value);
  if (!result.success) throw new DefinitionError(result.problems, source);
  return result.sequence;
}

/** Orders problems as they appear in the file: by path, with list indexes compared as numbers. */
function sortByPath(problems: Problem[]): Problem[] {
  const key = (path: string) => path.replace(/\[(\d+)\]/g, (_, n: string) => `[${n.padStart(6, '0')}]`);
  return [...problems].sort((a, b) => (key(a.path) < key(b.path) ? -1 : key(a.path) > key(b.path) ? 1 : 0));
}
