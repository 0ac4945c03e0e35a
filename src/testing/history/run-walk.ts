import type { RunEvent } from '../../core/compile/types.js';
import { timerIds } from '../../core/compile/types.js';
import type { TaskIndex } from '../../core/paths/expectation.js';
import { indexTasks } from '../../core/paths/expectation.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { Phase, Sequence } from '../../core/sequence/types.js';

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
}

/** What the history says of one task of the run so far. */
interface TaskTrack {
  lastAttempt: number;
  lastAt: number;
  /** The last attempt failed with a retry scheduled, or was interrupted: another attempt may start. */
  mayRetry: boolean;
  failures: number;
  /** Its last attempt's outcome when no other attempt may follow. */
  ended?: { readonly how: 'succeeded' | 'failed'; readonly at: number };
}

const RANK: Record<Phase, number> = { main: 0, compensate: 1, finally: 2 };
const KIND_OF_PHASE = { main: 'order', compensate: 'compensation', finally: 'finally' } as const;

const name = (a: { task: string; attempt: number }) => `${a.task}#${a.attempt}`;
const list = (ids: readonly string[]) => (ids.length === 0 ? 'none' : ids.join(', '));

/** The identity of the machine event an entry applied: two applied entries with one identity advanced the run twice. */
function eventIdentity(event: RunEvent): string {
  switch (event.type) {
    case 'TASK_SUCCEEDED':
    case 'TASK_FAILED':
    case 'TASK_INTERRUPTED':
      return `the report of ${event.taskId}#${event.attempt}`;
    case 'TIMER_FIRED':
      return `timer ${event.timerId}`;
    case 'CANCEL':
      return 'the cancel';
  }
}

type Applying = Exclude<Extract<RunEntry, { event: RunEvent }>, { type: 'event.ignored' }>;

const APPLYING = new Set<string>([
  'task.succeeded',
  'task.failed',
  'task.interrupted',
  'task.stopped',
  'timer.fired',
  'run.cancelling',
  'run.timed-out',
]);
/** Entries that record an event the machine applied (whether or not they carry it). */
const isApplying = (e: RunEntry): e is Applying => APPLYING.has(e.type);

/**
 * The machine event an entry applied. Histories printed without their events (`lockstep run --json`) get it back
 * from the entry itself: a timeout's failure carries the `TASK_TIMEOUT` code, a stop grace's end says so.
 */
function appliedEvent(e: Applying): RunEvent {
  if (e.event) return e.event;
  switch (e.type) {
    case 'task.succeeded':
      return { type: 'TASK_SUCCEEDED', taskId: e.task, attempt: e.attempt };
    case 'task.failed':
      return e.error?.code === 'TASK_TIMEOUT'
        ? { type: 'TIMER_FIRED', timerId: timerIds.timeout(e.task, e.attempt) }
        : { type: 'TASK_FAILED', taskId: e.task, attempt: e.attempt, error: e.error };
    case 'task.interrupted':
      return { type: 'TASK_INTERRUPTED', taskId: e.task, attempt: e.attempt };
    case 'task.stopped':
      return e.how === 'grace-expired'
        ? { type: 'TIMER_FIRED', timerId: timerIds.stop(e.task, e.attempt) }
        : { type: 'TASK_INTERRUPTED', taskId: e.task, attempt: e.attempt };
    case 'timer.fired':
      return { type: 'TIMER_FIRED', timerId: e.timerId };
    case 'run.timed-out':
      return { type: 'TIMER_FIRED', timerId: timerIds.run };
    case 'run.cancelling':
      return { type: 'CANCEL', reason: e.reason };
  }
}

/**
 * Walks one run's history in order, keeping what the history itself says (attempts in flight, stopped attempts,
 * the phase, the completed tasks) and checking each entry against the sequence's rules. Without the sequence only
 * what needs no definition is checked: overlaps, duplicates, attempt numbers and what follows the final entry.
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
  /** Where the main phase ended and how: `unwind` when a failure, a cancel or the run timeout ended it. */
  #mainEnded: { readonly at: number; readonly unwind: boolean; readonly why: string } | undefined;
  /** Index in the sequence of the main task started (or reused) last. */
  #mainPos = -1;
  /** Main tasks that succeeded, in order, with where. */
  readonly #completed: Array<{ readonly task: string; readonly at: number }> = [];
  /** Main tasks whose compensation started, in the order they started. */
  readonly #compensated: string[] = [];
  #finallyPos = -1;
  #finalAt: number | undefined;

  constructor(private readonly sequence: Sequence | undefined) {
    this.#index = sequence ? indexTasks(sequence) : undefined;
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
    if (this.#inFlight) {
      this.#report('overlapping-attempts', `${at} while ${name(this.#inFlight)} (started at entry ${this.#inFlight.at}) had not ended`);
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
      if (e.phase === 'main') this.#firstMain(e.task, at);
      else if (e.phase === 'compensate') this.#firstCompensation(e.task, at);
      else this.#firstFinally(e.task, at);
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

  #firstMain(task: string, at: string): void {
    if (this.#mainEnded) {
      this.#report('order', `${at}: the main phase had ended at entry ${this.#mainEnded.at} (${this.#mainEnded.why})`);
      return;
    }
    this.#advanceMain(task, at);
  }

  /** The main phase moves on to `task`: it must be the next one, after its predecessor succeeded (or failed under continue). */
  #advanceMain(task: string, at: string): void {
    const index = this.#index;
    if (!index || !this.sequence) return;
    const found = index.main.get(task);
    if (!found) {
      this.#report('order', `${at}: ${task} is not a main task of ${this.sequence.name} v${this.sequence.version}`);
      return;
    }
    const expected = this.sequence.tasks[this.#mainPos + 1];
    if (found.index !== this.#mainPos + 1) {
      this.#report('order', `${at}: the next main task in the sequence's order is ${expected?.id ?? 'none'}`);
    } else if (this.#mainPos >= 0) {
      const prev = this.sequence.tasks[this.#mainPos]!;
      const ended = this.#track('main', prev.id)?.ended;
      const done = ended?.how === 'succeeded' || (ended?.how === 'failed' && prev.onFailure === 'continue');
      if (!done) {
        const how = prev.onFailure === 'continue' ? 'succeeded or failed all its attempts (onFailure: continue)' : 'succeeded';
        this.#report('order', `${at}: its predecessor ${prev.id} had not ${how}`);
      }
    }
    this.#mainPos = Math.max(this.#mainPos, found.index);
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

  #firstCompensation(task: string, at: string): void {
    const owner = this.#ownerOf(task);
    if (this.#index && !this.#mainEnded) this.#report('compensation', `${at}: the main phase had not ended`);
    else if (this.#mainEnded && !this.#mainEnded.unwind) {
      this.#report('compensation', `${at}: the main phase ended without unwinding (${this.#mainEnded.why}, entry ${this.#mainEnded.at})`);
    }
    const completed = owner ? this.#completed.find((c) => c.task === owner) : undefined;
    if (!owner || !completed) {
      this.#report('compensation', `${at}: ${owner ?? task} never completed (completed: ${list(this.#completed.map((c) => c.task))})`);
      this.#compensated.push(owner ?? task);
      return;
    }
    const owed = this.#owed();
    if (this.#index) {
      const expected = owed[this.#compensated.length];
      if (expected !== owner) {
        this.#report(
          'compensation',
          `${at}: the next compensation due is ${expected ? `${expected}'s` : 'none'} (reverse order of completion: ${list(owed)})`,
        );
      }
    } else {
      const last = this.#compensated[this.#compensated.length - 1];
      const rank = (t: string) => this.#completed.findIndex((c) => c.task === t);
      if (last !== undefined && rank(owner) > rank(last)) {
        this.#report(
          'compensation',
          `${at}: ${owner} completed after ${last}, whose compensation ran first (reverse order of completion: ${list(owed)})`,
        );
      }
    }
    this.#compensated.push(owner);
  }

  #firstFinally(task: string, at: string): void {
    if (this.#phase !== 'finally') this.#owedCompensations(at);
    const index = this.#index;
    if (!index || !this.sequence) return;
    if (!this.#mainEnded) this.#report('finally', `${at}: the main phase had not ended`);
    const found = index.finally.get(task);
    if (!found) {
      this.#report('finally', `${at}: ${task} is not a finally task of ${this.sequence.name} v${this.sequence.version}`);
      return;
    }
    const expected = this.sequence.finally[this.#finallyPos + 1];
    if (found.index !== this.#finallyPos + 1) {
      this.#report('finally', `${at}: the next finally task in the sequence's order is ${expected?.id ?? 'none'}`);
    } else if (this.#finallyPos >= 0) {
      const prev = this.sequence.finally[this.#finallyPos]!;
      if (!this.#track('finally', prev.id)?.ended) this.#report('finally', `${at}: finally task ${prev.id} before it had not ended`);
    }
    this.#finallyPos = Math.max(this.#finallyPos, found.index);
  }

  /** Once the compensations are over (the finally phase begins, or the run ends): each one owed must have run to its end. */
  #owedCompensations(at: string): void {
    if (!this.#index || !this.#mainEnded?.unwind) return;
    for (const owner of this.#owed()) {
      const id = this.#index.main.get(owner)?.spec.compensate?.id ?? `${owner}.compensate`;
      const track = this.#track('compensate', id);
      if (!track) this.#report('compensation', `${at}: ${owner} completed, but its compensation ${id} never ran`);
      else if (!track.ended) this.#report('compensation', `${at}: compensation ${id} (started at entry ${track.lastAt}) had not ended`);
    }
  }

  /** Whether `e` is the outcome of the attempt in flight; reports it if not. A task reused from an earlier run stands in. */
  #isInFlight(e: TaskEntry, i: number): boolean {
    const f = this.#inFlight;
    if (f && f.task === e.task && f.attempt === e.attempt) return true;
    const reused = this.#reused.has(e.task) && e.phase === 'main' && e.attempt === 1 && !this.#track('main', e.task);
    if (reused && !this.#mainEnded) {
      this.#advanceMain(e.task, `${name(e)} (reused) at entry ${i}`);
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
    this.#inFlight = undefined;
    // A timeout stops the attempt: it still runs until its task.stopped entry.
    if (e.type === 'task.failed' && appliedEvent(e).type === 'TIMER_FIRED')
      this.#stopping = { task: e.task, attempt: e.attempt, phase: e.phase, at: track.lastAt };
    const spec = this.#index?.spec(e.task);
    if (e.type === 'task.succeeded') {
      track.ended = { how: 'succeeded', at: i };
      if (e.phase === 'main') {
        this.#completed.push({ task: e.task, at: i });
        if (this.#isLastMain(e.task)) this.#endMain(i, false, `${e.task}, the last main task, succeeded`);
      }
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
    track.ended = { how: 'failed', at: i };
    if (e.phase !== 'main' || !spec) return;
    if (spec.onFailure === 'stop') this.#endMain(i, true, `${e.task} failed`);
    else if (this.#isLastMain(e.task)) this.#endMain(i, false, `${e.task}, the last main task, failed under onFailure: continue`);
  }

  #isLastMain(task: string): boolean {
    const tasks = this.sequence?.tasks;
    return tasks !== undefined && tasks[tasks.length - 1]?.id === task;
  }

  #endMain(at: number, unwind: boolean, why: string): void {
    this.#mainEnded ??= { at, unwind, why };
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
    if (this.#mainEnded) {
      this.#report('order', `${type} at entry ${i}: the main phase had ended at entry ${this.#mainEnded.at} (${this.#mainEnded.why})`);
      return;
    }
    if (this.#inFlight) this.#stopping = this.#inFlight;
    this.#inFlight = undefined;
    this.#endMain(i, true, type === 'run.cancelling' ? 'the run was cancelled' : 'the run timed out');
  }

  #final(type: string, i: number): void {
    this.#finalAt = i;
    const at = `${type} at entry ${i}`;
    const f = this.#inFlight;
    if (f) this.#report('overlapping-attempts', `${at}: ${name(f)} (started at entry ${f.at}) had not ended`);
    const s = this.#stopping;
    if (s) this.#report('overlapping-attempts', `${at}: ${name(s)}, stopped but not ended (started at entry ${s.at}), was still running`);
    if (!this.sequence) return;
    if (!this.#mainEnded) this.#report('order', `${at}: the main phase had not ended`);
    if (this.#phase !== 'finally') this.#owedCompensations(at);
    for (const spec of this.sequence.finally) {
      const track = this.#track('finally', spec.id);
      if (!track) this.#report('finally', `${at}: finally task ${spec.id} never ran`);
      else if (!track.ended) this.#report('finally', `${at}: finally task ${spec.id} (started at entry ${track.lastAt}) had not ended`);
    }
  }
}
