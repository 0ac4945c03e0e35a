import { z } from 'zod';
import { PROTOCOL_VERSION } from './envelope.js';
import { parseRecord } from './parse-record.js';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * `sequence.definition`: the exact definition a run may start with, on the compacted `<prefix>.definitions`
 * topic, keyed by its sha256. Orchestrators publish every definition they know when they start, so that the
 * orchestrator and workers that later take a run on find the definition it started with by the hash its state and
 * dispatches carry, even once the file has changed under the same version. A definition's record is always the
 * same, so publishing it again changes nothing.
 */
export const DefinitionRecordSchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  type: z.literal('sequence.definition'),
  /** sha256 of `definition` (UTF-8), hex: also the record's key. */
  hash: z.string().regex(SHA256),
  sequence: z.string().min(1).max(200),
  version: z.string(),
  /**
   * The definition's text: a file's text as read, or for a sequence made in code its structure as JSON (a function
   * task appears as a task of its queue).
   */
  definition: z.string(),
  /** Where the definition came from (a file path), when it came from a file. */
  source: z.string().optional(),
});

export type DefinitionRecord = z.infer<typeof DefinitionRecordSchema>;

/** Parses a definition record's text. Never throws. */
export function parseDefinitionRecord(raw: string): { success: true; record: DefinitionRecord } | { success: false; reason: string } {
  const parsed = parseRecord(DefinitionRecordSchema, raw);
  return parsed.success ? { success: true, record: parsed.data } : parsed;
}
