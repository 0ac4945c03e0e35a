import { ErrorCode, LockstepError } from '../errors.js';
import { restoreProblems } from '../protocol/restorable.js';
import type { RunState } from '../protocol/run-state.js';
import { parseRunState, persistedOf } from '../protocol/run-state.js';
import { formatProblems } from '../sequence/problems.js';
import type { LiveRun } from './live-run.js';
import type { DefinitionLookup, ProgramRegistry } from './registry.js';

/**
 * What restoring a run from its state record gave: the live run, or why there is none. `code` is
 * `UNKNOWN_SEQUENCE` when this process does not know the run's definition (by its hash when the state names one,
 * else the sequence at its version; another process may),
 * `INVALID_MESSAGE` when the record can never restore: it does not parse, or it is not a state of its sequence.
 */
export type RestoreResult =
  | { readonly ok: true; readonly run: LiveRun }
  | { readonly ok: false; readonly code: typeof ErrorCode.unknownSequence | typeof ErrorCode.invalidMessage; readonly reason: string };

/** A reason names this many problems at most. */
const MAX_PROBLEMS = 5;

/**
 * Rebuilds a live run from its state record: snapshot, pending timers with their due times, bookkeeping. Never
 * throws: a record that cannot restore yields the reason, each problem named by its path
 * (`snapshot.context.current: expected task "b" attempt 1 (main) in state "main.b.running", got null`). A run
 * restored this way steps without throwing on any event.
 */
export function tryRestoreRun(registry: ProgramRegistry, state: RunState): RestoreResult {
  let program;
  try {
    // By the exact definition the run started with, when its state names it: never another one of its version.
    program = registry.resolveRef(state).program;
  } catch (error) {
    return {
      ok: false,
      code: ErrorCode.unknownSequence,
      reason: `${state.definitionHash ? 'definitionHash' : 'sequence'}: ${(error as Error).message}`,
    };
  }
  const problems = restoreProblems(program, state);
  if (problems.length > 0) {
    const more = problems.length > MAX_PROBLEMS ? `; and ${problems.length - MAX_PROBLEMS} more problems` : '';
    return {
      ok: false,
      code: ErrorCode.invalidMessage,
      reason: `${formatProblems(problems.slice(0, MAX_PROBLEMS)).replace(/\n/g, '; ')}${more}`,
    };
  }
  let snapshot;
  try {
    snapshot = program.restore(persistedOf(state));
  } catch (error) {
    // Not expected once the checks above passed; kept so that restoring stays total.
    return { ok: false, code: ErrorCode.invalidMessage, reason: `snapshot: the machine cannot restore it: ${(error as Error).message}` };
  }
  return {
    ok: true,
    run: {
      runId: state.runId,
      program,
      ...(state.definitionHash ? { definitionHash: state.definitionHash } : {}),
      ...(state.traceparent ? { traceparent: state.traceparent } : {}),
      snapshot,
      timers: new Map(Object.entries(state.timers)),
      startedAt: state.createdAt,
      attemptStartedAt: state.attemptStartedAt,
      completions: new Set(state.completions),
    },
  };
}

/** What restoring needs to know of a run's state ahead: whether it runs, and the definition it started with. */
export interface DefinitionOfState {
  readonly status: string;
  readonly definitionHash?: string | undefined;
}

/**
 * The definitions the running states name that the registry does not know yet: what to fetch before restoring
 * them ({@link fetchRestoreDefinitions}).
 */
export function unknownDefinitions(registry: ProgramRegistry, states: Iterable<DefinitionOfState>): string[] {
  const hashes = new Set<string>();
  for (const state of states) {
    if (state.status === 'running' && state.definitionHash && !registry.byHash(state.definitionHash)) hashes.add(state.definitionHash);
  }
  return [...hashes];
}

/**
 * Makes the registry know the definition of every running state it is about to restore, fetching the unknown ones
 * with `lookup` (in Kafka mode, from the definitions topic). A definition found nowhere is left out: restoring its
 * run then fails with a reason naming its hash.
 *
 * @throws whatever `lookup` throws (the definitions could not be read: restoring should be tried again).
 */
export async function fetchRestoreDefinitions(
  registry: ProgramRegistry,
  states: Iterable<DefinitionOfState>,
  lookup: DefinitionLookup,
): Promise<void> {
  const hashes = unknownDefinitions(registry, states);
  if (hashes.length > 0) await registry.fetch(hashes, lookup);
}

/** Parses a run-state record's text and restores its run ({@link tryRestoreRun}). Never throws. */
export function restoreRunRecord(registry: ProgramRegistry, raw: string): RestoreResult {
  const parsed = parseRunState(raw);
  if (!parsed.success) return { ok: false, code: ErrorCode.invalidMessage, reason: parsed.reason };
  return tryRestoreRun(registry, parsed.state);
}

/**
 * {@link tryRestoreRun} for callers that handle errors by throwing.
 *
 * @throws LockstepError UNKNOWN_SEQUENCE or INVALID_MESSAGE, with the reason.
 */
export function restoreRunOrThrow(registry: ProgramRegistry, state: RunState): LiveRun {
  const restored = tryRestoreRun(registry, state);
  if (!restored.ok) throw new LockstepError(restored.code, `run ${state.runId}: ${restored.reason}`);
  return restored.run;
}
