import type { DefinitionRecord } from '../../core/protocol/definition-record.js';
import { parseDefinitionRecord } from '../../core/protocol/definition-record.js';
import { PROTOCOL_VERSION, RESERVED_KEY_PREFIX, topicNames } from '../../core/protocol/envelope.js';
import type { ProgramRegistry, RegisteredProgram } from '../../core/run/registry.js';
import type { DurableLog, TopicMessage } from '../../ports/transport.js';

/** Why a record of the definitions topic was skipped. */
export type SkippedDefinition = (reason: string, extra: Record<string, unknown>) => void;

/**
 * The compacted `<prefix>.definitions` topic: every definition a run may have started with, keyed by its sha256,
 * in its one partition. Orchestrators publish theirs when they start; the orchestrators and workers that take a
 * run on later find the definition it started with here when they do not know it themselves.
 */
export class DefinitionsTopic {
  readonly #transport: DurableLog;
  readonly #topic: string;
  readonly #onSkipped: SkippedDefinition;
  /** The read in progress, which lookups arriving meanwhile share. */
  #reading: Promise<ReadonlyMap<string, string>> | undefined;

  constructor(transport: DurableLog, prefix?: string, onSkipped: SkippedDefinition = () => {}) {
    this.#transport = transport;
    this.#topic = topicNames(prefix).definitions;
    this.#onSkipped = onSkipped;
  }

  /** The record of a definition, for the definitions topic. */
  static recordOf(entry: RegisteredProgram): DefinitionRecord {
    const { sequence } = entry.program;
    return {
      v: PROTOCOL_VERSION,
      type: 'sequence.definition',
      hash: entry.hash,
      sequence: sequence.name,
      version: sequence.version,
      definition: entry.definition,
      ...(entry.source ? { source: entry.source } : {}),
    };
  }

  /**
   * Publishes every definition registered (by name) in `registry`. Idempotent: a definition's record is always the
   * same, and compaction keeps one per hash.
   */
  async publish(registry: ProgramRegistry): Promise<number> {
    const messages: TopicMessage[] = registry.definitions().map((entry) => ({
      topic: this.#topic,
      key: entry.hash,
      partition: 0,
      value: DefinitionsTopic.recordOf(entry),
    }));
    await this.#transport.publish(messages);
    return messages.length;
  }

  /** Finds definition texts by hash: reads the whole topic (one read at a time, shared by concurrent lookups). */
  readonly lookup = async (hashes: readonly string[]): Promise<ReadonlyMap<string, string>> => {
    const all = await this.#readAll();
    const found = new Map<string, string>();
    for (const hash of hashes) {
      const text = all.get(hash);
      if (text !== undefined) found.set(hash, text);
    }
    return found;
  };

  /** Every definition text of the topic, by hash. */
  all(): Promise<ReadonlyMap<string, string>> {
    return this.#readAll();
  }

  #readAll(): Promise<ReadonlyMap<string, string>> {
    this.#reading ??= this.#read().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  async #read(): Promise<ReadonlyMap<string, string>> {
    const texts = new Map<string, string>();
    for (const record of await this.#transport.readPartitions(this.#topic, [0])) {
      if (record.key === null || record.key.startsWith(RESERVED_KEY_PREFIX)) continue;
      if (record.value === null) {
        texts.delete(record.key);
        continue;
      }
      const parsed = parseDefinitionRecord(record.value);
      const where = { topic: this.#topic, partition: record.partition, offset: record.offset, key: record.key };
      if (!parsed.success) this.#onSkipped(`skipped a record of ${this.#topic}: ${parsed.reason}`, where);
      else if (parsed.record.hash !== record.key)
        this.#onSkipped(`skipped a record of ${this.#topic}: its key is not its hash ${parsed.record.hash}`, where);
      else texts.set(record.key, parsed.record.definition);
    }
    return texts;
  }
}
