import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, LockstepError } from '../core/errors.js';
import { inputProblems, MAX_INPUT_BYTES } from '../core/input-limits.js';
import { formatSize } from '../core/sequence/limits.js';

/** Input text read at most: whitespace aside, a text this long cannot hold an input within the limit. */
const MAX_INPUT_TEXT_BYTES = 16 * MAX_INPUT_BYTES;

/**
 * Reads `--input`: inline JSON, or `@path` to a JSON file. Returns null when absent. An input that could not
 * be stored or passed to the tasks (nested too deeply, too large) is refused here, before anything runs.
 *
 * @throws LockstepError `INVALID_USAGE` (exit 2) with the reason.
 */
export function parseInputOption(value: string | undefined, cwd: string): unknown {
  if (value === undefined) return null;
  let text = value;
  let where = '--input';
  if (value.startsWith('@')) {
    where = value.slice(1);
    const file = resolve(cwd, where);
    try {
      const size = statSync(file).size;
      if (size > MAX_INPUT_TEXT_BYTES) {
        throw new LockstepError(
          ErrorCode.invalidUsage,
          `--input: ${where} has ${size} bytes; an input is at most ${formatSize(MAX_INPUT_BYTES)} as JSON`,
        );
      }
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if (error instanceof LockstepError) throw error;
      throw new LockstepError(ErrorCode.invalidUsage, `--input: cannot read ${where}: ${(error as Error).message}`);
    }
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    throw new LockstepError(ErrorCode.invalidUsage, `${where}: expected JSON, ${(error as Error).message}`);
  }
  const problems = inputProblems(input);
  if (problems.length > 0) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      `--input${where === '--input' ? '' : ` (${where})`}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
    );
  }
  return input;
}
