import type { RunEntry } from '../core/protocol/run-entry.js';
import type { TracedRun } from '../core/trace/run-spans.js';

/**
 * Where a run's trace goes: the orchestrator hands it every history entry once it is durable, with what the run
 * started with (its sequence and `traceparent`). With a tracer, dispatches carry each attempt's `traceparent`.
 */
export interface RunTracer {
  /** Called once per durable history entry; must not throw (a tracer that fails drops spans, never a run). */
  entry(entry: RunEntry, run: TracedRun): void;
  /** Exports what is still buffered and stops. */
  close(): Promise<void>;
}
