import { readFileSync } from 'node:fs';
import { ErrorCode, LockstepError } from '../core/errors.js';

/** Reads `--input`: inline JSON, or `@path` to a JSON file. Returns null when absent. */
export function parseInputOption(value: string | undefined, cwd: string): unknown {
  if (value === undefined) return null;
  let text = value;
  let where = '--input';
  if (value.startsWith('@')) {
    where = value.slice(1);
    try {
      text = readFileSync(new URL(where, `file://${cwd}/`), 'utf8');
    } catch (error) {
      throw new LockstepError(ErrorCode.invalidUsage, `--input: cannot read ${where}: ${(error as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LockstepError(ErrorCode.invalidUsage, `${where}: expected JSON, ${(error as Error).message}`);
  }
}
