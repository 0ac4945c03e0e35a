// A registry of sequences made in code, each with its definition text and hash, as an orchestrator registers them.
import { sha256Hex } from '../../src/core/hash.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import type { Sequence } from '../../src/core/sequence/types.js';
import { definitionText } from '../../src/modes/embedded/embedded-runtime.js';

/** A registry holding `sequences`. */
export function registryOf(...sequences: Sequence[]): ProgramRegistry {
  const registry = new ProgramRegistry();
  for (const s of sequences) registry.register(s, { definition: definitionText(s), hash: sha256Hex(definitionText(s)) });
  return registry;
}
