import { ErrorCode, LockstepError } from '../errors.js';
import type { Sequence } from '../sequence/types.js';
import { createProgram } from '../step.js';
import type { Program } from '../step.js';

/** A program with the definition text it was compiled from. */
export interface RegisteredProgram {
  readonly program: Program;
  readonly definition: string;
  readonly hash: string;
  readonly source?: string;
}

/** Sequences an orchestrator or worker knows, by name and version. */
export class ProgramRegistry {
  readonly #byName = new Map<string, Map<string, RegisteredProgram>>();
  readonly #latest = new Map<string, RegisteredProgram>();

  /** Registers a sequence; the same name and version registered again replaces the earlier one. */
  register(sequence: Sequence, meta: { definition: string; hash: string; source?: string }): RegisteredProgram {
    const entry: RegisteredProgram = { program: createProgram(sequence), ...meta };
    let versions = this.#byName.get(sequence.name);
    if (!versions) {
      versions = new Map();
      this.#byName.set(sequence.name, versions);
    }
    versions.set(sequence.version, entry);
    this.#latest.set(sequence.name, entry);
    return entry;
  }

  /** The named sequence at a version, or the one registered last. */
  resolve(name: string, version?: string): RegisteredProgram {
    const entry = version === undefined ? this.#latest.get(name) : this.#byName.get(name)?.get(version);
    if (!entry) {
      const known = [...this.#byName.keys()].join(', ') || 'none';
      throw new LockstepError(ErrorCode.unknownSequence, `unknown sequence "${name}"${version ? ` version ${version}` : ''} (known: ${known})`);
    }
    return entry;
  }

  names(): string[] {
    return [...this.#byName.keys()].sort();
  }
}
