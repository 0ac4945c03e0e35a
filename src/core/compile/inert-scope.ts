import type { AnyActorScope, InspectionEvent } from 'xstate';
import { createActor } from 'xstate';
import type { RunMachine } from './machine.js';
import type { Command } from './types.js';

const COMMANDS = new Set(['dispatch', 'wait', 'cancelTask', 'startTimer', 'cancelTimer', 'finish']);

/** An actor scope that runs nothing: it hands the machine's command actions to `onCommand`. */

/**
 * The one inert actor scope of a machine, for calling `machine.transition()` and `getInitialSnapshot()` directly.
 * xstate's own `transition()` builds a new actor per call, which is slow; this scope is built once. Its actions
 * execute nothing: each command action (`dispatch`, `startTimer`, ...) becomes a {@link Command} for `onCommand`.
 * `inspect` sees the microsteps, for tools that follow which transitions were taken.
 */
export function inertScope(
  machine: RunMachine,
  onCommand: (command: Command) => void,
  options: { runId?: string; inspect?: (event: InspectionEvent) => void } = {},
): AnyActorScope {
  const self = createActor(machine, { input: { runId: options.runId ?? '' }, ...(options.inspect ? { inspect: options.inspect } : {}) });
  return {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (action: { type: string; params?: unknown }) => {
      if (COMMANDS.has(action.type)) onCommand({ type: action.type, ...(action.params as object) } as Command);
    },
  } as unknown as AnyActorScope;
}
