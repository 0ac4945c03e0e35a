import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { AttemptProcess } from '../../ports/attempt-processes.js';
import type { Release, RunFilter, RunRecord, RunStore, RunUpdate } from '../../ports/run-store.js';

/**
 * A run store that keeps nothing: for Kafka mode, where a run's history is its events and commands topics and its
 * state lives on the compacted run-state topic, and partition ownership (not a lock) decides who drives a run.
 */
export class NullRunStore implements RunStore {
  async create(_record: RunRecord, _entries: readonly RunEntry[]): Promise<void> {}
  async append(_runId: string, _entries: readonly RunEntry[], _update?: RunUpdate): Promise<void> {}
  async get(_runId: string): Promise<undefined> {
    return undefined;
  }
  async list(_filter?: RunFilter): Promise<RunRecord[]> {
    return [];
  }
  async lock(_runId: string, _owner: string): Promise<Release> {
    return () => {};
  }
  // Kafka mode's workers are services of their own: a crashed orchestrator leaves no attempt process behind.
  async recordAttemptProcess(_process: AttemptProcess): Promise<void> {}
  async clearAttemptProcess(_runId: string, _task: string, _attempt: number): Promise<void> {}
  async attemptProcesses(_runId: string): Promise<AttemptProcess[]> {
    return [];
  }

  /** Kafka mode: partition ownership drives runs, and an orchestrator that takes a partition over resumes them. */
  isDriven(_runId: string): boolean {
    return true;
  }
  async close(): Promise<void> {}
}
