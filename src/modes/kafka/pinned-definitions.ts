import { ErrorCode, LockstepError } from '../../core/errors.js';
import { isReservedKey } from '../../core/protocol/partition-offset.js';
import { topicNames } from '../../core/protocol/envelope.js';
import type { ProgramRegistry } from '../../core/run/registry.js';
import { unknownDefinitionMessage } from '../../core/run/registry.js';
import { fetchRestoreDefinitions } from '../../core/run/restore-run.js';
import type { DefinitionOfState } from '../../core/run/restore-run.js';
import type { Program } from '../../core/step.js';
import type { StoredMessage, Transport } from '../../ports/transport.js';
import type { DispatchedTask } from '../../runtime/worker.js';
import type { DefinitionsTopic } from './definitions-topic.js';

/** What a run-state record says about its definition, read without validating the whole state. */
function definitionOf(record: StoredMessage): DefinitionOfState | undefined {
  if (record.key === null || record.value === null || isReservedKey(record.key)) return undefined;
  try {
    const state = JSON.parse(record.value) as { status?: unknown; definitionHash?: unknown };
    if (typeof state.status !== 'string') return undefined;
    return { status: state.status, ...(typeof state.definitionHash === 'string' ? { definitionHash: state.definitionHash } : {}) };
  } catch {
    return undefined; // restoring reports it
  }
}

/** The definition of each run's latest state record (a compacted topic may still hold older ones). */
function latestDefinitions(records: readonly StoredMessage[]): Iterable<DefinitionOfState> {
  const latest = new Map<string, DefinitionOfState>();
  for (const record of records) {
    if (record.key === null) continue;
    const state = definitionOf(record);
    if (state) latest.set(record.key, state);
    else latest.delete(record.key);
  }
  return latest.values();
}

/**
 * The orchestrator's transport, whose read-back of run-state partitions (restoring the runs of newly assigned
 * partitions) first makes the registry know the exact definition of every running state: its own, else the one on
 * the definitions topic. Restoring then finds each run's definition by its hash, and a run whose definition is
 * nowhere fails to restore with a reason naming the hash.
 */
export function pinningTransport(transport: Transport, prefix: string, registry: ProgramRegistry, definitions: DefinitionsTopic): Transport {
  const runs = topicNames(prefix).runs;
  const readPartitions = transport.readPartitions?.bind(transport);
  const recordLimits = transport.recordLimits?.bind(transport);
  return {
    publish: (messages) => transport.publish(messages),
    subscribe: (options, handler) => transport.subscribe(options, handler),
    ...(readPartitions ? {
      readPartitions: async (topic: string, partitions: readonly number[]) => {
        const records = await readPartitions(topic, partitions);
        if (topic === runs) await fetchRestoreDefinitions(registry, latestDefinitions(records), definitions.lookup);
        return records;
      },
    } : {}),
    ...(recordLimits ? { recordLimits: (topics: readonly string[]) => recordLimits(topics) } : {}),
    close: () => transport.close(),
  };
}

/**
 * Finds a dispatched task's program for a worker: by the hash of the definition its run started with, in the
 * registry or else on the definitions topic, so that the worker runs that definition's task even after the file
 * changed under the same version; by sequence and version only for dispatches that carry no hash (older
 * orchestrators).
 *
 * @throws LockstepError UNKNOWN_SEQUENCE, not retriable, when the definition is nowhere.
 */
export function pinnedProgramOf(registry: ProgramRegistry, definitions: DefinitionsTopic): (task: DispatchedTask) => Promise<Program> {
  const fetching = new Map<string, Promise<unknown>>();
  return async (task) => {
    const { sequence, version, definitionHash } = task.payload;
    if (definitionHash === undefined) return registry.resolve(sequence, version).program;
    let entry = registry.byHash(definitionHash);
    if (!entry) {
      // Dispatches of one run arrive together: they share one read of the topic.
      let fetch = fetching.get(definitionHash);
      if (!fetch) {
        fetch = registry.fetch([definitionHash], definitions.lookup).finally(() => fetching.delete(definitionHash));
        fetching.set(definitionHash, fetch);
      }
      await fetch;
      entry = registry.byHash(definitionHash);
    }
    if (!entry) throw new LockstepError(ErrorCode.unknownSequence, unknownDefinitionMessage({ sequence, version, definitionHash }));
    return entry.program;
  };
}
