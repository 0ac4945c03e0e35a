import { sha256Hex } from '../hash.js';
import { loadSequenceText } from '../sequence/validate.js';
import type { Program } from '../step.js';
import { createProgram } from '../step.js';
import type { ProgramRegistry } from './registry.js';

/** What names the program of a run: its sequence and version, and, when known, the definition it started with. */
export interface ProgramKey {
  readonly sequence: string;
  readonly version: string;
  readonly definition?: string;
  readonly definitionHash?: string;
}

/**
 * Resolves the program of a run: the registered one when it has the hash the run started with (or the run names
 * none), else the run's own stored definition, compiled once per hash. `undefined` when neither will do.
 */
export function programResolver(registry: ProgramRegistry): (key: ProgramKey) => Program | undefined {
  const compiled = new Map<string, Program | undefined>();
  return (key) => {
    try {
      const registered = registry.resolve(key.sequence, key.version);
      if (!key.definitionHash || registered.hash === key.definitionHash) return registered.program;
    } catch {
      // Not registered at this version: fall back to the stored definition.
    }
    if (!key.definition) return undefined;
    const hash = key.definitionHash ?? sha256Hex(key.definition);
    if (!compiled.has(hash)) {
      try {
        compiled.set(hash, createProgram(loadSequenceText(key.definition)));
      } catch {
        compiled.set(hash, undefined);
      }
    }
    return compiled.get(hash);
  };
}
