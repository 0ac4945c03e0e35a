import type { SnapshotFrom } from 'xstate';
import { inertScope } from './compile/inert-scope.js';
import type { RunMachine } from './compile/machine.js';
import { compile } from './compile/machine.js';
import type { Command, RunContext, RunEvent, RunInput } from './compile/types.js';
import type { Sequence } from './sequence/types.js';

/** A run's snapshot: the XState snapshot of its compiled machine. */
export type RunSnapshot = SnapshotFrom<RunMachine>;

/** Why an event was not applied. Ignored events never change a run. */
export type IgnoredReason = 'duplicate' | 'stale' | 'late' | 'unexpected';

/** What one step returns: the next snapshot and the commands to execute, in order. */
export interface StepResult {
  readonly snapshot: RunSnapshot;
  readonly commands: readonly Command[];
  /** Set when the event was not applied; `snapshot` is then the same object as before. */
  readonly ignored?: IgnoredReason;
}

/** The JSON form of a snapshot, for stores and the run-state topic. */
export interface PersistedRun {
  readonly value: unknown;
  readonly context: RunContext;
  readonly status: 'active' | 'done';
}

/** A compiled sequence: the machine and the pure functions that drive it. */
export interface Program {
  readonly sequence: Sequence;
  readonly machine: RunMachine;
  /** The initial snapshot of a new run and its first commands. */
  start(input: RunInput): StepResult;
  /** `step(snapshot, event) -> (snapshot, commands)`. Pure: performs no I/O and reads no clock. */
  step(snapshot: RunSnapshot, event: RunEvent): StepResult;
  persist(snapshot: RunSnapshot): PersistedRun;
  restore(persisted: PersistedRun): RunSnapshot;
}

function classify(context: RunContext, done: boolean, event: RunEvent): IgnoredReason {
  if (done) return 'late';
  if (event.type === 'TIMER_FIRED' || event.type === 'CANCEL') return 'late';
  const dispatched = context.attempts[event.taskId] ?? 0;
  if (event.attempt > dispatched) return 'unexpected';
  if (event.attempt < dispatched) return 'stale';
  return 'duplicate';
}

/** Machines by sequence: a validated sequence never changes, and compiling is the costly part of a program. */
const compiled = new WeakMap<Sequence, RunMachine>();

/** Compiles a sequence into a {@link Program}. The same sequence object compiles once. */
export function createProgram(sequence: Sequence): Program {
  let machine = compiled.get(sequence);
  if (!machine) {
    machine = compile(sequence);
    compiled.set(sequence, machine);
  }
  let sink: Command[] = [];
  const scope = inertScope(machine, (command) => sink.push(command));

  const collect = <T>(run: () => T): [T, Command[]] => {
    sink = [];
    const result = run();
    const commands = sink;
    sink = [];
    return [result, commands];
  };

  return {
    sequence,
    machine,
    start(input) {
      const [snapshot, commands] = collect(() => machine.getInitialSnapshot(scope, input) as RunSnapshot);
      return { snapshot, commands };
    },
    step(snapshot, event) {
      const [next, commands] = collect(() => machine.transition(snapshot, event, scope) as RunSnapshot);
      if (next === snapshot) return { snapshot, commands: [], ignored: classify(snapshot.context, snapshot.status === 'done', event) };
      return { snapshot: next, commands };
    },
    persist(snapshot) {
      return { value: snapshot.value, context: snapshot.context, status: snapshot.status === 'done' ? 'done' : 'active' };
    },
    restore(persisted) {
      // Contexts persisted before `stopping` existed lack it: nothing was being waited for.
      const context = { ...persisted.context, stopping: persisted.context.stopping ?? null };
      return machine.resolveState({ value: persisted.value as never, context }) as RunSnapshot;
    },
  };
}
