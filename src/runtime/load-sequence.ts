import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DefinitionError } from '../core/errors.js';
import type { Sequence } from '../core/sequence/types.js';
import { loadSequenceText } from '../core/sequence/validate.js';

/** A sequence loaded from a file, with the exact text it came from. */
export interface LoadedSequence {
  readonly sequence: Sequence;
  readonly path: string;
  readonly text: string;
  /** sha256 of the text, hex. */
  readonly hash: string;
}

export const SEQUENCE_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;

export function hashText(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Reads and validates a sequence file.
 *
 * @throws DefinitionError when the file is missing, unreadable or invalid.
 */
export function loadSequenceFile(path: string): LoadedSequence {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new DefinitionError([{ path: '(file)', message: reason }], path);
  }
  return { sequence: loadSequenceText(text, path), path, text, hash: hashText(text) };
}

/** Lists the sequence files in a directory (or the file itself), sorted by name. */
export function listSequenceFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => (SEQUENCE_EXTENSIONS as readonly string[]).includes(extname(name)))
    .sort()
    .map((name) => join(path, name));
}
