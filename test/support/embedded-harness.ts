import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import type { Sequence } from '../../src/core/sequence/types.js';
import type { EmbeddedOptions, EmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';
import { SimulatedClock } from '../../src/runtime/simulated-clock.js';

/** Lets queued microtasks and I/O callbacks run. */
export async function idle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

export interface Harness {
  readonly runtime: EmbeddedRuntime;
  readonly clock: SimulatedClock;
  readonly entries: RunEntry[];
  /** Entries of one run, of the given types. */
  of(runId: string, ...types: RunEntry['type'][]): RunEntry[];
  /** Starts a run and drives simulated time until it ends; resolves with the final entry. */
  run(input?: unknown, onIdle?: (runId: string) => Promise<void> | void): Promise<{ runId: string; final: RunEntry }>;
  close(): Promise<void>;
}

/** A real embedded runtime on a simulated clock, recording every history entry. */
export async function harness(sequence: Sequence, options: Omit<EmbeddedOptions, 'clock' | 'onEntry'> = {}): Promise<Harness> {
  const clock = new SimulatedClock(1_000_000);
  const entries: RunEntry[] = [];
  const runtime = await createEmbeddedRuntime({ ...options, clock, onEntry: (e) => entries.push(e) });
  runtime.register(sequence);
  const finalOf = (runId: string) =>
    entries.find((e) => e.runId === runId && (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.cancelled'));
  return {
    runtime,
    clock,
    entries,
    of: (runId, ...types) => entries.filter((e) => e.runId === runId && (types.length === 0 || types.includes(e.type))),
    async run(input, onIdle) {
      const runId = await runtime.start({ sequence: sequence.name, input });
      for (let guard = 0; guard < 10_000; guard++) {
        await idle();
        const final = finalOf(runId);
        if (final) return { runId, final };
        if (onIdle) await onIdle(runId);
        await idle();
        if (finalOf(runId)) continue;
        if (!clock.fireNext()) await new Promise((r) => setTimeout(r, 2));
      }
      throw new Error(`run ${runId} did not finish`);
    },
    close: () => runtime.close(),
  };
}
