import { ErrorCode, LockstepError } from '../errors.js';
import { sha256Hex } from '../hash.js';
import { sequenceText } from '../sequence/sequence-text.js';
import type { Sequence } from '../sequence/types.js';
import { loadSequenceText } from '../sequence/validate.js';
import type { Program } from '../step.js';
import { createProgram } from '../step.js';

/** A program with the definition text it was compiled from. */
export interface RegisteredProgram {
  readonly program: Program;
  readonly definition: string;
  /** sha256 of `definition`, hex: names this exact definition wherever it travels. */
  readonly hash: string;
  readonly source?: string;
}

/**
 * Which definition a run or a dispatch names: its sequence and version, and, when it is known, the hash of the
 * exact definition it started with.
 */
export interface DefinitionRef {
  readonly sequence: string;
  readonly version?: string;
  readonly definitionHash?: string;
}

/**
 * Finds definition texts by their sha256 elsewhere (in Kafka mode, the definitions topic). Hashes it does not
 * find are left out of the map.
 */
export type DefinitionLookup = (hashes: readonly string[]) => Promise<ReadonlyMap<string, string>>;

/**
 * Why a definition named by its hash cannot be used, for restore failures and dispatch failures alike: it is not
 * known, or (`problem`) its text was found but does not compile.
 */
export function unknownDefinitionMessage(ref: DefinitionRef & { readonly definitionHash: string }, problem?: string): string {
  const version = ref.version === undefined ? '' : ` version ${ref.version}`;
  const which = `definition sha256:${ref.definitionHash} of sequence "${ref.sequence}"${version}`;
  return problem === undefined
    ? `${which} is unknown: not registered here, and not found where definitions are published`
    : `${which} cannot be used: ${problem}`;
}

/**
 * Sequences an orchestrator or worker knows: by name and version, for new runs, and by the hash of their exact
 * definition, for runs that started under it. Definitions pinned by hash (fetched for runs in flight) never
 * change what a name resolves to.
 */
export class ProgramRegistry {
  readonly #byName = new Map<string, Map<string, RegisteredProgram>>();
  readonly #latest = new Map<string, RegisteredProgram>();
  readonly #byHash = new Map<string, RegisteredProgram>();
  /** Registered by name, in order: each hash once. */
  readonly #registered = new Map<string, RegisteredProgram>();
  /** Definitions found by {@link fetch} whose text does not compile, with why. */
  readonly #unusable = new Map<string, string>();

  /**
   * Registers a sequence; the same name and version registered again replaces the earlier one for new runs, while
   * runs that started under the earlier one still find it by its hash.
   */
  register(sequence: Sequence, meta: { definition: string; hash: string; source?: string }): RegisteredProgram {
    const entry: RegisteredProgram = { program: createProgram(sequence), ...meta };
    let versions = this.#byName.get(sequence.name);
    if (!versions) {
      versions = new Map();
      this.#byName.set(sequence.name, versions);
    }
    versions.set(sequence.version, entry);
    this.#latest.set(sequence.name, entry);
    this.#byHash.set(entry.hash, entry);
    this.#registered.delete(entry.hash);
    this.#registered.set(entry.hash, entry);
    return entry;
  }

  /**
   * Registers a sequence made in code (the builder): its definition is its structure ({@link sequenceText}), which
   * another process compiles into the same machine without the code.
   */
  registerSequence(sequence: Sequence, source?: string): RegisteredProgram {
    const definition = sequenceText(sequence);
    return this.register(sequence, { definition, hash: sha256Hex(definition), ...(source ? { source } : {}) });
  }

  /**
   * Compiles a definition text known by its hash only (a run in flight started under it) and keeps it, by hash:
   * names and versions still resolve to what was registered. A hash already known returns its program as is.
   *
   * @throws LockstepError INVALID_MESSAGE when the text's sha256 is not `hash`; DefinitionError when it is not a
   * valid sequence.
   */
  pin(hash: string, definition: string, source?: string): RegisteredProgram {
    const known = this.#byHash.get(hash);
    if (known) return known;
    const actual = sha256Hex(definition);
    if (actual !== hash) throw new LockstepError(ErrorCode.invalidMessage, `definition sha256:${hash}: its text has sha256 ${actual}`);
    const label = source ?? `definition sha256:${hash}`;
    const entry: RegisteredProgram = {
      program: createProgram(loadSequenceText(definition, label)),
      definition,
      hash,
      ...(source ? { source } : {}),
    };
    this.#byHash.set(hash, entry);
    return entry;
  }

  /**
   * Fetches the definitions of `hashes` not known here with `lookup`, and pins them ({@link pin}). Returns the
   * hashes still unknown, with why when a text was found but is not a valid definition of its hash.
   */
  async fetch(hashes: Iterable<string>, lookup: DefinitionLookup): Promise<Map<string, string>> {
    const wanted = [...new Set(hashes)].filter((h) => !this.#byHash.has(h));
    const missing = new Map<string, string>();
    if (wanted.length === 0) return missing;
    const found = await lookup(wanted);
    for (const hash of wanted) {
      const text = found.get(hash);
      if (text === undefined) {
        missing.set(hash, 'not found');
        continue;
      }
      try {
        this.pin(hash, text);
        this.#unusable.delete(hash);
      } catch (error) {
        const reason = (error as Error).message.replace(/\n/g, '; ');
        this.#unusable.set(hash, reason);
        missing.set(hash, reason);
      }
    }
    return missing;
  }

  /** The definition with this sha256, if known here (registered or pinned). */
  byHash(hash: string): RegisteredProgram | undefined {
    return this.#byHash.get(hash);
  }

  /**
   * The named sequence at a version, or the one registered last.
   *
   * @throws LockstepError UNKNOWN_SEQUENCE naming the sequences known.
   */
  resolve(name: string, version?: string): RegisteredProgram {
    const entry = version === undefined ? this.#latest.get(name) : this.#byName.get(name)?.get(version);
    if (!entry) {
      const known = [...this.#byName.keys()].join(', ') || 'none';
      throw new LockstepError(
        ErrorCode.unknownSequence,
        `unknown sequence "${name}"${version ? ` version ${version}` : ''} (known: ${known})`,
      );
    }
    return entry;
  }

  /**
   * The definition a run or dispatch names: by its hash when it carries one (and nothing else, so that a run never
   * goes on under another definition of the same version), else by name and version.
   *
   * @throws LockstepError UNKNOWN_SEQUENCE when the hash, or the name and version, are not known here.
   */
  resolveRef(ref: DefinitionRef): RegisteredProgram {
    if (ref.definitionHash === undefined) return this.resolve(ref.sequence, ref.version);
    const entry = this.#byHash.get(ref.definitionHash);
    if (!entry) {
      throw new LockstepError(
        ErrorCode.unknownSequence,
        unknownDefinitionMessage({ ...ref, definitionHash: ref.definitionHash }, this.#unusable.get(ref.definitionHash)),
      );
    }
    return entry;
  }

  /** Every definition registered by name (not the pinned ones), each once, in the order registered. */
  definitions(): RegisteredProgram[] {
    return [...this.#registered.values()];
  }

  names(): string[] {
    return [...this.#byName.keys()].sort();
  }
}
