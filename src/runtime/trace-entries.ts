import type { LiveRun } from '../core/run/live-run.js';
import type { TracedRun } from '../core/trace/run-spans.js';
import type { JournalEntry } from '../ports/journal.js';
import type { RunTracer } from '../ports/run-tracer.js';

/** Hands a run's durable entries to the tracer; a tracer that throws loses its spans, never the run's progress. */
export function traceEntries(tracer: RunTracer, run: LiveRun, entries: readonly JournalEntry[]): void {
  if (entries.length === 0) return;
  const traced: TracedRun = {
    sequence: run.program.sequence.name,
    version: run.program.sequence.version,
    ...(run.traceparent ? { traceparent: run.traceparent } : {}),
  };
  for (const e of entries) {
    try {
      tracer.entry(e.entry, traced);
    } catch {
      // Tracing is best effort: the entries are recorded already.
    }
  }
}
