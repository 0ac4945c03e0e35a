import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DefinitionError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { formatSize } from '../../core/sequence/limits.js';
import type { Sequence } from '../../core/sequence/types.js';
import { loadSequenceText, MAX_DEFINITION_BYTES } from '../../core/sequence/validate.js';

/** A sequence loaded from a file, with the exact text it came from. */
export interface LoadedSequence {
  readonly sequence: Sequence;
  readonly path: string;
  readonly text: string;
  /** sha256 of the text, hex. */
  readonly hash: string;
}

export const SEQUENCE_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Reads a definition file's text: at most {@link MAX_DEFINITION_BYTES}, and UTF-8 (a byte-order mark is fine).
 *
 * @throws DefinitionError when the file is missing, unreadable, too large or not UTF-8 text.
 */
export function readDefinitionFile(path: string): string {
  const problem = (message: string) => new DefinitionError([{ path: '(file)', message }], path);
  let bytes: Buffer;
  try {
    const size = statSync(path).size;
    // Checked before reading, so a huge file is refused without being loaded.
    if (size > MAX_DEFINITION_BYTES)
      throw problem(`${size} bytes, more than the ${formatSize(MAX_DEFINITION_BYTES)} a definition may have`);
    bytes = readFileSync(path);
  } catch (error) {
    if (error instanceof DefinitionError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw problem(code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'a directory, not a file' : (error as Error).message);
  }
  if (bytes.length > MAX_DEFINITION_BYTES)
    throw problem(`${bytes.length} bytes, more than the ${formatSize(MAX_DEFINITION_BYTES)} a definition may have`);
  try {
    return utf8.decode(bytes);
  } catch {
    throw problem(`not UTF-8 text (the first invalid byte is at offset ${firstInvalidUtf8(bytes)}): save the file as UTF-8`);
  }
}

/** Offset of the first byte that does not decode as UTF-8. */
function firstInvalidUtf8(bytes: Buffer): number {
  let lo = 0;
  let hi = bytes.length;
  // The shortest prefix that fails to decode ends at the first invalid sequence (give or take a 4-byte character).
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid + 1), { stream: true });
      lo = mid + 1;
    } catch {
      hi = mid;
    }
  }
  // Decoding fails at the byte after an incomplete character: report where that character starts.
  if (lo >= bytes.length || bytes[lo]! < 0x80 || (bytes[lo]! & 0xc0) === 0xc0) {
    let start = lo - 1;
    while (start > 0 && (bytes[start]! & 0xc0) === 0x80) start--;
    if (start >= 0 && bytes[start]! >= 0x80) return start;
  }
  return lo;
}

/**
 * Reads and validates a sequence file.
 *
 * @throws DefinitionError when the file is missing, unreadable or invalid.
 */
export function loadSequenceFile(path: string): LoadedSequence {
  const text = readDefinitionFile(path);
  return { sequence: loadSequenceText(text, path), path, text, hash: sha256Hex(text) };
}

/** Lists the sequence files in a directory (or the file itself), sorted by name. */
export function listSequenceFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => (SEQUENCE_EXTENSIONS as readonly string[]).includes(extname(name)))
    .sort()
    .map((name) => join(path, name));
}
