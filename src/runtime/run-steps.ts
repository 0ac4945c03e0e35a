import type { Command, RunEvent } from '../core/compile/types.js';
import type { StateValue } from '../core/graph/model.js';
import type { topicNames } from '../core/protocol/envelope.js';
import type { FinalEntry, RunEntry } from '../core/protocol/run-entry.js';
import { isFinalEntry } from '../core/protocol/run-entry.js';
import type { LiveRun } from '../core/run/live-run.js';
import { advance, stateValueOf } from '../core/run/live-run.js';
import type { Clock } from '../ports/clock.js';
import { taskCommandMessage } from './command-messages.js';
import type { OrchestratorStats } from './orchestrator-options.js';
import type { Pending, Work } from './pending-writes.js';
import type { TimerService } from './timers.js';

/** What stepping runs needs from the orchestrator that drives them. */
export interface RunStepsDeps {
  readonly stats: OrchestratorStats;
  readonly topics: ReturnType<typeof topicNames>;
  readonly clock: Clock;
  /** Queue of shell and handler tasks. */
  readonly defaultQueue: string;
  /** Runs are traced: dispatches carry their attempt's `traceparent`. */
  readonly traced?: boolean;
  readonly timers: TimerService;
  /** Once the batch holding a run's final entry is recorded: the run is driven here no more. */
  readonly finish: (runId: string, entry: FinalEntry) => void;
}

/**
 * Steps runs within a batch: applies an event to a run's machine, adds the entries it produced (each with the
 * state after it) to the run's pending write, and turns its commands into the batch's work: dispatches and
 * cancels to send with the batch, timers to arm or disarm once it is recorded.
 */
export class RunSteps {
  readonly #deps: RunStepsDeps;

  constructor(deps: RunStepsDeps) {
    this.#deps = deps;
  }

  /** Applies `event` to the run; an event the run ignores is counted and recorded, and changes nothing else. */
  apply(run: LiveRun, event: RunEvent, work: Work, p: Pending): void {
    const { stats } = this.#deps;
    const result = advance(run, event, work.at);
    const state = stateValueOf(run);
    if (result.ignored) {
      stats.ignored[result.ignored]++;
      for (const entry of result.entries) p.entries.push({ entry, state });
      return;
    }
    stats.applied++;
    this.take(
      run,
      result.entries,
      result.entries.map(() => state),
      result.commands,
      work,
      p,
    );
  }

  /** Adds a step's entries (each with the state after it) to the run's changes, and executes its commands. */
  take(
    run: LiveRun,
    entries: readonly RunEntry[],
    states: readonly StateValue[],
    commands: readonly Command[],
    work: Work,
    p: Pending,
  ): void {
    entries.forEach((e, i) => {
      p.entries.push({ entry: e, state: states[i]! });
      if (e.type === 'task.started') p.update.currentTask = e.task;
      else if (isFinalEntry(e)) {
        p.update.status = e.outcome;
        if (e.reason) p.update.reason = e.reason;
        // The record names the task that failed the run, not the last finally task that ran.
        p.update.currentTask = e.outcome === 'succeeded' ? null : (run.snapshot.context.error?.taskId ?? null);
        work.after.push(() => this.#deps.finish(run.runId, e));
      }
    });
    for (const c of commands) this.#execute(run, c, work, p);
  }

  #execute(run: LiveRun, c: Command, work: Work, p: Pending): void {
    const runId = run.runId;
    const { clock, timers } = this.#deps;
    switch (c.type) {
      case 'dispatch':
      case 'cancelTask': {
        const context = {
          topics: this.#deps.topics,
          defaultQueue: this.#deps.defaultQueue,
          now: clock.now(),
          ...(p.cause ? { cause: p.cause } : {}),
          ...(this.#deps.traced ? { traced: true } : {}),
        };
        const m = taskCommandMessage(run, c, context);
        work.out.push(m);
        p.sent.push(m);
        break;
      }
      case 'startTimer':
        work.after.push(() => timers.arm({ runId, timerId: c.timerId, dueAt: run.timers.get(c.timerId) ?? clock.now() + c.delayMs }));
        break;
      case 'cancelTimer':
        work.after.push(() => timers.disarm(runId, c.timerId));
        break;
      case 'finish':
        break;
    }
  }
}
