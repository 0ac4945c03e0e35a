import type { TaskIndex } from '../../core/paths/expectation.js';
import { goesOn } from '../../core/paths/invariants.js';
import type { Phase, Sequence, TaskSpec } from '../../core/sequence/types.js';

/** How a task's last attempt ended, when no other attempt may follow. */
export interface TaskEnded {
  readonly how: 'succeeded' | 'failed';
  readonly at: number;
  /** A failure that lets the run go on: onFailure: continue, or a signal wait's timeout under onTimeout: continue. */
  readonly goesOn?: boolean;
}

/** What the phase rules read of a task's attempts so far. */
interface TaskSoFar {
  readonly lastAt: number;
  readonly ended?: TaskEnded;
}

/** What the phase rules need from the walk of a run's history. */
export interface PhaseOrderDeps {
  readonly report: (kind: 'order' | 'compensation' | 'finally', message: string) => void;
  /** What the history says of a task of a phase, if any attempt of it started. */
  readonly track: (phase: Phase, task: string) => TaskSoFar | undefined;
}

const list = (ids: readonly string[]) => (ids.length === 0 ? 'none' : ids.join(', '));

/**
 * The order of a run's phases and tasks, as its history shows it: the main tasks one after the other, the
 * compensations of the completed tasks in reverse once the main phase unwound, the finally tasks in order, and
 * each phase over before the next begins. Without the sequence only what needs no definition is checked: that a
 * compensation follows its task's completion, in reverse order of completion.
 */
export class PhaseOrder {
  readonly #sequence: Sequence | undefined;
  readonly #index: TaskIndex | undefined;
  readonly #deps: PhaseOrderDeps;
  /** Where the main phase ended and how: `unwind` when a failure, a cancel or the run timeout ended it. */
  #mainEnded: { readonly at: number; readonly unwind: boolean; readonly why: string } | undefined;
  /** Index in the sequence of the main task started (or reused) last. */
  #mainPos = -1;
  /** Main tasks that succeeded, in order, with where. */
  readonly #completed: Array<{ readonly task: string; readonly at: number }> = [];
  /** Main tasks whose compensation started, in the order they started. */
  readonly #compensated: string[] = [];
  #finallyPos = -1;

  constructor(sequence: Sequence | undefined, index: TaskIndex | undefined, deps: PhaseOrderDeps) {
    this.#sequence = sequence;
    this.#index = index;
    this.#deps = deps;
  }

  /** Where the main phase ended and why, once it has. */
  get mainEnded(): { readonly at: number; readonly why: string } | undefined {
    return this.#mainEnded;
  }

  /** The first attempt of main task `task` started. */
  firstMain(task: string, at: string): void {
    if (this.#mainEnded) {
      this.#deps.report('order', `${at}: the main phase had ended at entry ${this.#mainEnded.at} (${this.#mainEnded.why})`);
      return;
    }
    this.advanceMain(task, at);
  }

  /** The main phase moves on to `task`: it must be the next one, after its predecessor succeeded (or failed under continue). */
  advanceMain(task: string, at: string): void {
    const index = this.#index;
    const sequence = this.#sequence;
    if (!index || !sequence) return;
    const found = index.main.get(task);
    if (!found) {
      this.#deps.report('order', `${at}: ${task} is not a main task of ${sequence.name} v${sequence.version}`);
      return;
    }
    const expected = sequence.tasks[this.#mainPos + 1];
    if (found.index !== this.#mainPos + 1) {
      this.#deps.report('order', `${at}: the next main task in the sequence's order is ${expected?.id ?? 'none'}`);
    } else if (this.#mainPos >= 0) {
      const prev = sequence.tasks[this.#mainPos]!;
      const ended = this.#deps.track('main', prev.id)?.ended;
      const done = ended?.how === 'succeeded' || (ended?.how === 'failed' && ended.goesOn === true);
      if (!done) {
        const how = prev.onFailure === 'continue' ? 'succeeded or failed all its attempts (onFailure: continue)' : 'succeeded';
        this.#deps.report('order', `${at}: its predecessor ${prev.id} had not ${how}`);
      }
    }
    this.#mainPos = Math.max(this.#mainPos, found.index);
  }

  /** Main task `task` succeeded at entry `i`: it is owed a compensation should the run unwind. */
  mainSucceeded(task: string, i: number): void {
    this.#completed.push({ task, at: i });
    if (this.#isLastMain(task)) this.endMain(i, false, `${task}, the last main task, succeeded`);
  }

  /** Main task `task` failed for good at entry `i`. */
  mainFailed(task: string, spec: TaskSpec, i: number, timedOut = false): void {
    if (!goesOn(spec, timedOut)) this.endMain(i, true, `${task} failed`);
    else if (this.#isLastMain(task)) {
      const how = spec.onFailure === 'continue' ? 'failed under onFailure: continue' : 'timed out under onTimeout: continue';
      this.endMain(i, false, `${task}, the last main task, ${how}`);
    }
  }

  /** The main phase ends at entry `at` (only its first end counts); `unwind` when compensations are owed. */
  endMain(at: number, unwind: boolean, why: string): void {
    this.#mainEnded ??= { at, unwind, why };
  }

  #isLastMain(task: string): boolean {
    const tasks = this.#sequence?.tasks;
    return tasks !== undefined && tasks[tasks.length - 1]?.id === task;
  }

  /** The main task whose compensation `task` is. */
  #ownerOf(task: string): string | undefined {
    if (this.#index) return this.#index.compensations.get(task)?.of;
    return task.endsWith('.compensate') ? task.slice(0, -'.compensate'.length) : undefined;
  }

  /** The compensations an unwinding run owes, in the order it owes them: the completed tasks', in reverse. */
  #owed(): string[] {
    const index = this.#index;
    const completed = this.#completed.map((c) => c.task).reverse();
    return index ? completed.filter((t) => index.main.get(t)?.spec.compensate) : completed;
  }

  /** The first attempt of compensation `task` started. */
  firstCompensation(task: string, at: string): void {
    const owner = this.#ownerOf(task);
    if (this.#index && !this.#mainEnded) this.#deps.report('compensation', `${at}: the main phase had not ended`);
    else if (this.#mainEnded && !this.#mainEnded.unwind) {
      this.#deps.report(
        'compensation',
        `${at}: the main phase ended without unwinding (${this.#mainEnded.why}, entry ${this.#mainEnded.at})`,
      );
    }
    const completed = owner ? this.#completed.find((c) => c.task === owner) : undefined;
    if (!owner || !completed) {
      this.#deps.report('compensation', `${at}: ${owner ?? task} never completed (completed: ${list(this.#completed.map((c) => c.task))})`);
      this.#compensated.push(owner ?? task);
      return;
    }
    const owed = this.#owed();
    if (this.#index) {
      const expected = owed[this.#compensated.length];
      if (expected !== owner) {
        this.#deps.report(
          'compensation',
          `${at}: the next compensation due is ${expected ? `${expected}'s` : 'none'} (reverse order of completion: ${list(owed)})`,
        );
      }
    } else {
      const last = this.#compensated[this.#compensated.length - 1];
      const rank = (t: string) => this.#completed.findIndex((c) => c.task === t);
      if (last !== undefined && rank(owner) > rank(last)) {
        this.#deps.report(
          'compensation',
          `${at}: ${owner} completed after ${last}, whose compensation ran first (reverse order of completion: ${list(owed)})`,
        );
      }
    }
    this.#compensated.push(owner);
  }

  /** The first attempt of finally task `task` started, in phase `phase` of the run. */
  firstFinally(task: string, at: string, phase: Phase): void {
    if (phase !== 'finally') this.#owedCompensations(at);
    const index = this.#index;
    const sequence = this.#sequence;
    if (!index || !sequence) return;
    if (!this.#mainEnded) this.#deps.report('finally', `${at}: the main phase had not ended`);
    const found = index.finally.get(task);
    if (!found) {
      this.#deps.report('finally', `${at}: ${task} is not a finally task of ${sequence.name} v${sequence.version}`);
      return;
    }
    const expected = sequence.finally[this.#finallyPos + 1];
    if (found.index !== this.#finallyPos + 1) {
      this.#deps.report('finally', `${at}: the next finally task in the sequence's order is ${expected?.id ?? 'none'}`);
    } else if (this.#finallyPos >= 0) {
      const prev = sequence.finally[this.#finallyPos]!;
      if (!this.#deps.track('finally', prev.id)?.ended)
        this.#deps.report('finally', `${at}: finally task ${prev.id} before it had not ended`);
    }
    this.#finallyPos = Math.max(this.#finallyPos, found.index);
  }

  /** Once the compensations are over (the finally phase begins, or the run ends): each one owed must have run to its end. */
  #owedCompensations(at: string): void {
    if (!this.#index || !this.#mainEnded?.unwind) return;
    for (const owner of this.#owed()) {
      const id = this.#index.main.get(owner)?.spec.compensate?.id ?? `${owner}.compensate`;
      const track = this.#deps.track('compensate', id);
      if (!track) this.#deps.report('compensation', `${at}: ${owner} completed, but its compensation ${id} never ran`);
      else if (!track.ended)
        this.#deps.report('compensation', `${at}: compensation ${id} (started at entry ${track.lastAt}) had not ended`);
    }
  }

  /** The run ended, in phase `phase`: every phase must be over, each task owed having run to its end. */
  ended(at: string, phase: Phase): void {
    const sequence = this.#sequence;
    if (!sequence) return;
    if (!this.#mainEnded) this.#deps.report('order', `${at}: the main phase had not ended`);
    if (phase !== 'finally') this.#owedCompensations(at);
    for (const spec of sequence.finally) {
      const track = this.#deps.track('finally', spec.id);
      if (!track) this.#deps.report('finally', `${at}: finally task ${spec.id} never ran`);
      else if (!track.ended)
        this.#deps.report('finally', `${at}: finally task ${spec.id} (started at entry ${track.lastAt}) had not ended`);
    }
  }
}
