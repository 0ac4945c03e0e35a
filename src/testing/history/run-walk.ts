import type { TaskIndex } from '../../core/paths/expectation.js';
import { indexTasks } from '../../core/paths/expectation.js';
import { goesOn } from '../../core/paths/invariants.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { Phase, Sequence } from '../../core/sequence/types.js';
import type { Applying } from './applied-event.js';
import { appliedEvent, eventIdentity, isApplying } from './applied-event.js';
import type { TaskEnded } from './phase-order.js';
import { PhaseOrder } from './phase-order.js';

/** A broken promise found in one run's history: its kind (see `ViolationKind`) and what happened, with positions. */
export interface RunFinding {
  readonly kind: 'order' | 'overlapping-attempts' | 'duplicate-advancement' | 'finally' | 'compensation';
  readonly message: string;
}

/** What walking one run's history found. */
export interface RunWalkResult {
  readonly findings: readonly RunFinding[];
  /** Position of the run's final entry, if it has one. */
  readonly finalAt?: number;
}

type TaskEntry = Extract<RunEntry, { task: string }>;
type Started = Extract<RunEntry, { type: 'task.started' }>;

/** One attempt, where its `task.started` entry is (`-1` for a task reused from an earlier run). */
interface Attempt {
  readonly task: string;
  readonly attempt: number;
  readonly phase: Phase;
  readonly at: number;
  /** A wait's attempt (its `task.waiting` came): what it waits for. It runs nothing, so ending it stops nothing. */
  readonly waits?: 'signal' | 'time';
}

/** What the history says of one task of the run so far. */
interface TaskTrack {
  lastAttempt: number;
  lastAt: number;
  /** The last attempt failed with a retry scheduled, or was interrupted: another attempt may start. */
  mayRetry: boolean;
  failures: number;
  /** Its last attempt's outcome when no other attempt may follow. */
  ended?: TaskEnded;
}

const RANK: Record<Phase, number> = { main: 0, compensate: 1, finally: 2 };
const KIND_OF_PHASE = { main: 'order', compensate: 'compensation', finally: 'finally' } as const;

const name = (a: { task: string; attempt: number }) => `${a.task}#${a.attempt}`;

/**
 * Walks one run's history in order, keeping what the history itself says (attempts in flight, stopped attempts,
 * the phase) and checking each entry against the sequence's rules; the order of phases and tasks is
 * {@link PhaseOrder}'s. Without the sequence only what needs no definition is checked: overlaps, duplicates,
 * attempt numbers and what follows the final entry.
 */
export class RunWalk {
  readonly #findings: RunFinding[] = [];
  readonly #index: TaskIndex | undefined;
  readonly #tasks = new Map<string, TaskTrack>();
  readonly #applied = new Map<string, number>();
  readonly #outcomes = new Map<string, number>();
  #reused = new Set<string>();
  #inFlight: Attempt | undefined;
  #stopping: Attempt | undefined;
  #phase: Phase = 'main';
  readonly #order: PhaseOrder;
  #finalAt: number | undefined;

  constructor(sequence: Sequence | undefined) {
    this.#index = sequence ? indexTasks(sequence) : undefined;
    this.#order = new PhaseOrder(sequence, this.#index, {
      report: (kind, message) => this.#report(kind, message),
      track: (phase, task) => this.#track(phase, task),
    });
  }

  /** Walks the whole history. */
  walk(entries: readonly RunEntry[]): RunWalkResult {
    entries.forEach((e, i) => this.#entry(e, i));
    return { findings: this.#findings, ...(this.#finalAt !== undefined ? { finalAt: this.#finalAt } : {}) };
  }

  #report(kind: RunFinding['kind'], message: string): void {
    this.#findings.push({ kind, message });
  }

  #track(phase: Phase, task: string): TaskTrack | undefined {
    return this.#tasks.get(`${phase}:${task}`);
  }

  #entry(e: RunEntry, i: number): void {
    const at = `${e.type} at entry ${i}`;
    if (e.type === 'run.started') {
      if (i > 0) this.#report('order', `${at}: the run had already started at entry 0`);
      else this.#reused = new Set(e.reused ?? []);
      return;
    }
    if (i === 0) this.#report('order', `the history begins with ${e.type}, not run.started`);
    if (this.#finalAt !== undefined) {
      if (e.type !== 'event.ignored')
        this.#report('order', `${at}${'task' in e ? ` (${name(e)})` : ''}: the run had ended at entry ${this.#finalAt}`);
      return;
    }
    if (isApplying(e) && this.#duplicate(e, i)) return;
    switch (e.type) {
      case 'task.started':
        this.#started(e, i);
        break;
      case 'task.waiting':
        this.#waiting(e, i);
        break;
      case 'task.succeeded':
      case 'task.failed':
        this.#outcome(e, i);
        break;
      case 'task.interrupted':
        this.#interrupted(e, i);
        break;
      case 'task.stopped':
        this.#stopped(e, i);
        break;
      case 'run.cancelling':
      case 'run.timed-out':
        this.#unwind(e.type, i);
        break;
      case 'run.succeeded':
      case 'run.failed':
      case 'run.cancelled':
        this.#final(e.type, i);
        break;
      case 'timer.fired':
      case 'event.ignored':
        break;
    }
  }

  /** Reports an entry that applies an event (or records an outcome) the run had already applied; true if so. */
  #duplicate(e: Applying, i: number): boolean {
    if (e.type === 'task.succeeded' || e.type === 'task.failed') {
      const key = `${e.phase}:${e.task}#${e.attempt}`;
      const before = this.#outcomes.get(key);
      if (before !== undefined) {
        this.#report(
          'duplicate-advancement',
          `${e.type} at entry ${i}: ${name(e)} (${e.phase}) already had its outcome recorded at entry ${before}`,
        );
        return true;
      }
      this.#outcomes.set(key, i);
    }
    const id = eventIdentity(appliedEvent(e));
    const before = this.#applied.get(id);
    if (before !== undefined) {
      this.#report('duplicate-advancement', `${e.type} at entry ${i} applied ${id}, already applied at entry ${before}`);
      return true;
    }
    this.#applied.set(id, i);
    return false;
  }

  #started(e: Started, i: number): void {
    const at = `${name(e)} (${e.phase}) started at entry ${i}`;
    const f = this.#inFlight;
    if (f?.waits) {
      const what = f.waits === 'signal' ? 'a signal' : 'its time';
      this.#report('overlapping-attempts', `${at} while ${name(f)} (started at entry ${f.at}) was still waiting for ${what}`);
    } else if (f) {
      this.#report('overlapping-attempts', `${at} while ${name(f)} (started at entry ${f.at}) had not ended`);
    }
    if (this.#stopping) {
      this.#report(
        'overlapping-attempts',
        `${at} while ${name(this.#stopping)}, stopped but not ended (started at entry ${this.#stopping.at}), was still running`,
      );
    }
    if (RANK[e.phase] < RANK[this.#phase]) this.#report(KIND_OF_PHASE[e.phase], `${at}, after the ${this.#phase} phase had begun`);
    const track = this.#track(e.phase, e.task);
    if (track) this.#again(e, track, at);
    else {
      if (e.attempt !== 1) this.#report('order', `${at}: its first attempt is numbered ${e.attempt}, not 1`);
      if (e.phase === 'main') this.#order.firstMain(e.task, at);
      else if (e.phase === 'compensate') this.#order.firstCompensation(e.task, at);
      else this.#order.firstFinally(e.task, at, this.#phase);
    }
    this.#tasks.set(`${e.phase}:${e.task}`, {
      lastAttempt: Math.max(e.attempt, track?.lastAttempt ?? 0),
      lastAt: i,
      mayRetry: false,
      failures: track?.failures ?? 0,
      ...(track?.ended ? { ended: track.ended } : {}),
    });
    if (RANK[e.phase] > RANK[this.#phase]) this.#phase = e.phase;
    this.#inFlight = { task: e.task, attempt: e.attempt, phase: e.phase, at: i };
  }

  /** Another attempt of a task that already started one. */
  #again(e: Started, track: TaskTrack, at: string): void {
    if (e.attempt <= track.lastAttempt) {
      this.#report('order', `${at}: attempt ${track.lastAttempt} had already started at entry ${track.lastAt}; attempts never go back`);
    } else if (e.attempt !== track.lastAttempt + 1) {
      this.#report('order', `${at}: the attempt before it was ${track.lastAttempt} (entry ${track.lastAt}); attempts count up by one`);
    }
    if (track.ended) {
      this.#report(KIND_OF_PHASE[e.phase], `${at}: ${e.task} had already ${track.ended.how} for good at entry ${track.ended.at}`);
    } else if (!track.mayRetry && this.#inFlight?.task !== e.task) {
      this.#report('order', `${at}: attempt ${track.lastAttempt} neither failed with a retry scheduled nor was interrupted`);
    }
  }

  /** A wait's attempt began: it must be the attempt in flight, and the next entry after its `task.started`. */
  #waiting(e: Extract<RunEntry, { type: 'task.waiting' }>, i: number): void {
    const f = this.#inFlight;
    if (!f || f.task !== e.task || f.attempt !== e.attempt || f.waits) {
      const now = f ? `${name(f)} was (started at entry ${f.at})` : 'none was';
      this.#report('order', `task.waiting at entry ${i}: ${name(e)} (${e.phase}) was not an attempt just started; ${now}`);
      return;
    }
    this.#inFlight = { ...f, waits: e.for };
  }

  /** Whether `e` is the outcome of the attempt in flight; reports it if not. A task reused from an earlier run stands in. */
  #isInFlight(e: TaskEntry, i: number): boolean {
    const f = this.#inFlight;
    if (f && f.task === e.task && f.attempt === e.attempt) return true;
    const reused = this.#reused.has(e.task) && e.phase === 'main' && e.attempt === 1 && !this.#track('main', e.task);
    if (reused && !this.#order.mainEnded) {
      this.#order.advanceMain(e.task, `${name(e)} (reused) at entry ${i}`);
      return true;
    }
    const now = f ? `${name(f)} was (started at entry ${f.at})` : 'none was';
    this.#report('order', `${e.type} at entry ${i}: ${name(e)} (${e.phase}) was not the attempt in flight; ${now}`);
    return false;
  }

  #outcome(e: Extract<RunEntry, { type: 'task.succeeded' | 'task.failed' }>, i: number): void {
    if (!this.#isInFlight(e, i)) return;
    const track: TaskTrack = this.#track(e.phase, e.task) ?? { lastAttempt: e.attempt, lastAt: i, mayRetry: false, failures: 0 };
    this.#tasks.set(`${e.phase}:${e.task}`, track);
    const waited = this.#inFlight?.waits !== undefined;
    this.#inFlight = undefined;
    // A timeout stops the attempt: it still runs until its task.stopped entry. A wait runs nothing: nothing to stop.
    const timedOut = e.type === 'task.failed' && appliedEvent(e).type === 'TIMER_FIRED';
    if (timedOut && !waited) this.#stopping = { task: e.task, attempt: e.attempt, phase: e.phase, at: track.lastAt };
    const spec = this.#index?.spec(e.task);
    if (e.type === 'task.succeeded') {
      track.ended = { how: 'succeeded', at: i };
      if (e.phase === 'main') this.#order.mainSucceeded(e.task, i);
      return;
    }
    track.failures++;
    if (spec && track.failures > spec.retry.maxAttempts) {
      this.#report(
        'order',
        `task.failed at entry ${i}: ${e.task} failed ${track.failures} times, beyond its maxAttempts ${spec.retry.maxAttempts}`,
      );
    }
    if (e.willRetry) {
      if (spec && track.failures >= spec.retry.maxAttempts) {
        this.#report(
          'order',
          `task.failed at entry ${i}: ${name(e)} scheduled a retry after failure ${track.failures} of maxAttempts ${spec.retry.maxAttempts}`,
        );
      } else if (e.error?.retriable === false) {
        this.#report('order', `task.failed at entry ${i}: ${name(e)} scheduled a retry of an error marked retriable: false`);
      }
      track.mayRetry = true;
      return;
    }
    track.ended = { how: 'failed', at: i, goesOn: goesOn(spec, timedOut) };
    if (e.phase === 'main' && spec) this.#order.mainFailed(e.task, spec, i, timedOut);
  }

  #interrupted(e: Extract<RunEntry, { type: 'task.interrupted' }>, i: number): void {
    if (!this.#isInFlight(e, i)) return;
    this.#inFlight = undefined;
    const track = this.#track(e.phase, e.task);
    if (track) track.mayRetry = true;
  }

  #stopped(e: Extract<RunEntry, { type: 'task.stopped' }>, i: number): void {
    const s = this.#stopping;
    if (!s || s.task !== e.task || s.attempt !== e.attempt) {
      const now = s ? `${name(s)} was` : 'none was';
      this.#report('order', `task.stopped at entry ${i}: ${name(e)} had not been stopped; ${now}`);
      return;
    }
    this.#stopping = undefined;
  }

  #unwind(type: 'run.cancelling' | 'run.timed-out', i: number): void {
    const ended = this.#order.mainEnded;
    if (ended) {
      this.#report('order', `${type} at entry ${i}: the main phase had ended at entry ${ended.at} (${ended.why})`);
      return;
    }
    // A wait is left at once: nothing runs, so nothing is stopped.
    if (this.#inFlight && !this.#inFlight.waits) this.#stopping = this.#inFlight;
    this.#inFlight = undefined;
    this.#order.endMain(i, true, type === 'run.cancelling' ? 'the run was cancelled' : 'the run timed out');
  }

  #final(type: string, i: number): void {
    this.#finalAt = i;
    const at = `${type} at entry ${i}`;
    const f = this.#inFlight;
    if (f) this.#report('overlapping-attempts', `${at}: ${name(f)} (started at entry ${f.at}) had not ended`);
    const s = this.#stopping;
    if (s) this.#report('overlapping-attempts', `${at}: ${name(s)}, stopped but not ended (started at entry ${s.at}), was still running`);
    this.#order.ended(at, this.#phase);
  }
}
