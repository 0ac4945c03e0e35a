import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { ProgramRegistry } from '../../core/run/registry.js';
import { unknownDefinitionMessage } from '../../core/run/registry.js';
import type { Program } from '../../core/step.js';
import type { DispatchedTask } from '../../runtime/worker.js';
import type { DefinitionsTopic } from './definitions-topic.js';

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
