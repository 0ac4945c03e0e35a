import { DefinitionError } from '../errors.js';
import { parseDefinitionText } from './definition-text.js';
import type { Problem } from './problems.js';
import { problemsFromIssues } from './problems.js';
import { normalise, SequenceFileSchema } from './schema.js';
import { structuralProblems } from './structure.js';
import type { Sequence } from './types.js';

export { MAX_DEFINITION_BYTES, parseDefinitionText } from './definition-text.js';

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

/**
 * Parses and validates the text of a sequence file.
 *
 * @throws DefinitionError with every problem when the text is not a valid sequence.
 */
export function loadSequenceText(text: string, source?: string): Sequence {
  const raw = parseDefinitionText(text);
  if (!raw.success) throw new DefinitionError(raw.problems, source);
  let result: ValidationResult;
  try {
    result = validateSequence(raw.value);
  } catch (error) {
    // A value the schema cannot even look at (e.g. an exotic YAML tag) is a problem of the file, not a crash.
    throw new DefinitionError([{ path: '(root)', message: `cannot be validated: ${(error as Error).message}` }], source);
  }
  if (!result.success) throw new DefinitionError(result.problems, source);
  return result.sequence;
}

/** Orders problems as they appear in the file: by path, with list indexes compared as numbers. */
function sortByPath(problems: Problem[]): Problem[] {
  const key = (path: string) => path.replace(/\[(\d+)\]/g, (_, n: string) => `[${n.padStart(6, '0')}]`);
  return [...problems].sort((a, b) => (key(a.path) < key(b.path) ? -1 : key(a.path) > key(b.path) ? 1 : 0));
}
