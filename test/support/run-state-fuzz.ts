// Programs, simulated runs and run-state records for the restore property suite.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { RunEvent } from '../../src/core/compile/types.js';
import type { FinalEntry } from '../../src/core/protocol/run-entry.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import type { LiveRun } from '../../src/core/run/live-run.js';
import { advance, beginRun } from '../../src/core/run/live-run.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { loadSequenceText, validateSequence } from '../../src/core/sequence/validate.js';
import type { Program } from '../../src/core/step.js';
import { runStateOf } from '../../src/runtime/journals/kafka/run-state-topic.js';

const machinesDir = join(import.meta.dirname, '..', '..', 'machines');

/** Small sequences that reach every kind of state: timeouts, retries (gated and not), continue, compensations, finally, run timeout. */
const generatedDefinitions = (count: number): unknown[] => {
  const body = fc.record({
    timeout: fc.option(fc.constantFrom('1s', '30s'), { nil: undefined }),
    retry: fc.option(
      fc.record({ maxAttempts: fc.integer({ min: 1, max: 3 }), backoff: fc.record({ initial: fc.constantFrom('10ms', '20s') }) }),
      { nil: undefined },
    ),
  });
  const task = (id: string) =>
    fc
      .tuple(body, fc.constantFrom('stop', 'continue'), fc.option(body, { nil: undefined }), fc.boolean())
      .map(([b, onFailure, compensate, queue]) => ({
        id,
        ...(queue ? { queue: 'q' } : { run: 'true' }),
        ...strip(b),
        onFailure,
        ...(compensate ? { compensate: { run: 'true', ...strip(compensate) } } : {}),
      }));
  const definition = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 }), fc.boolean()).chain(([n, f, runTimeout]) =>
    fc
      .tuple(fc.tuple(...[...Array(n).keys()].map((i) => task(`t${i}`))), fc.tuple(...[...Array(f).keys()].map((i) => task(`f${i}`))))
      .map(([tasks, fin]) => ({
        version: '1',
        ...(runTimeout ? { timeout: '1m' } : {}),
        tasks,
        finally: fin.map(({ onFailure: _, compensate: __, ...t }) => t),
      })),
  );
  return fc.sample(definition, { numRuns: count, seed: 12 }).map((d, i) => ({ name: `gen-${i}`, ...(d as object) }));
};

function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** The sequences of machines/*.yaml and a few generated ones, registered once. */
export function programPool(generated = 16): { registry: ProgramRegistry; programs: Program[] } {
  const registry = new ProgramRegistry();
  const programs: Program[] = [];
  for (const file of readdirSync(machinesDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const text = readFileSync(join(machinesDir, file), 'utf8');
    programs.push(registry.register(loadSequenceText(text, file), { definition: text, hash: file }).program);
  }
  for (const raw of generatedDefinitions(generated)) {
    const validated = validateSequence(raw);
    if (!validated.success) throw new Error(`generated sequence does not validate: ${JSON.stringify(validated.problems)}`);
    programs.push(registry.register(validated.sequence, { definition: JSON.stringify(raw), hash: validated.sequence.name }).program);
  }
  return { registry, programs };
}

/** Every state value a program's machine can rest in or pass through (its leaf states), e.g. `{ main: { a: 'running' } }`. */
export function leafValues(program: Program): unknown[] {
  interface Node {
    readonly type: string;
    readonly states: Record<string, Node>;
  }
  const out: unknown[] = [];
  const walk = (node: Node, path: string[]) => {
    const keys = Object.keys(node.states);
    if (keys.length === 0) {
      out.push(path.slice(0, -1).reduceRight<unknown>((v, k) => ({ [k]: v }), path[path.length - 1]));
      return;
    }
    for (const k of keys) walk(node.states[k]!, [...path, k]);
  };
  walk(program.machine.root as unknown as Node, []);
  return out;
}

/** Task ids of a program, compensations and finally tasks included. */
export function taskIdsOf(program: Program): string[] {
  return [
    ...program.sequence.tasks.flatMap((t) => [t.id, ...(t.compensate ? [t.compensate.id] : [])]),
    ...program.sequence.finally.map((t) => t.id),
  ];
}

/**
 * The event a choice stands for in a run's present state: mostly reports of the attempt in flight, sometimes of
 * the stopped one, a pending timer, a cancel, or a report of an attempt that is not in flight.
 */
export function eventFor(run: LiveRun, choice: number, pick: number): RunEvent {
  const c = run.snapshot.context;
  const timers = [...run.timers.keys()];
  const target = c.current ??
    c.stopping ?? { taskId: taskIdsOf(run.program)[pick % taskIdsOf(run.program).length]!, attempt: 1 + (pick % 3) };
  const report = c.stopping && pick % 2 === 0 ? c.stopping : target;
  switch (choice % 10) {
    case 0:
    case 1:
    case 2:
      return { type: 'TASK_SUCCEEDED', taskId: report.taskId, attempt: report.attempt, ...(pick % 3 === 0 ? {} : { result: { n: pick } }) };
    case 3:
    case 4:
      return { type: 'TASK_FAILED', taskId: report.taskId, attempt: report.attempt, error: { message: 'boom' } };
    case 5:
      return { type: 'TASK_FAILED', taskId: report.taskId, attempt: report.attempt, error: { message: 'fatal', retriable: false } };
    case 6:
    case 7:
      if (timers.length > 0) return { type: 'TIMER_FIRED', timerId: timers[pick % timers.length]! };
      return { type: 'TASK_SUCCEEDED', taskId: report.taskId, attempt: report.attempt };
    case 8:
      return { type: 'CANCEL', reason: 'stop it' };
    default:
      return { type: 'TASK_INTERRUPTED', taskId: target.taskId, attempt: target.attempt };
  }
}

/** Choices that drive a simulated run (see {@link eventFor}). */
export const choicesArb = (max: number) => fc.array(fc.tuple(fc.nat(99), fc.nat(99)), { maxLength: max });

/** A run's state record now, as an orchestrator writes it after a step. */
export function recordOf(run: LiveRun, final: FinalEntry | undefined, now: number): RunState {
  return runStateOf(run, final ? { final } : {}, now);
}

/** Runs a program through the choices; the run and its state record after the start and after each step. */
export function simulate(
  program: Program,
  choices: ReadonlyArray<readonly [number, number]>,
  runId = 'run-1',
): Array<{ record: RunState; event?: RunEvent }> {
  let now = 1_000_000;
  const began = beginRun(program, { runId, input: { order: 42 }, at: now });
  const run = began.run;
  let final = began.entries.find(
    (e): e is FinalEntry => e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.cancelled',
  );
  const out: Array<{ record: RunState; event?: RunEvent }> = [{ record: recordOf(run, final, now) }];
  for (const [choice, pick] of choices) {
    if (final) break;
    now += 1 + pick;
    const event = eventFor(run, choice, pick);
    const step = advance(run, event, now);
    final = step.entries.find((e): e is FinalEntry => e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.cancelled');
    out.push({ record: recordOf(run, final, now), event });
  }
  return out;
}
