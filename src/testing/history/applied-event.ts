import type { RunEvent } from '../../core/compile/types.js';
import { timerIds } from '../../core/compile/types.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';

/** The identity of the machine event an entry applied: two applied entries with one identity advanced the run twice. */
export function eventIdentity(event: RunEvent): string {
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

/** An entry that records an event the machine applied. */
export type Applying = Exclude<Extract<RunEntry, { event: RunEvent }>, { type: 'event.ignored' }>;

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
export const isApplying = (e: RunEntry): e is Applying => APPLYING.has(e.type);

/**
 * The machine event an entry applied. Histories printed without their events (`lockstep run --json`) get it back
 * from the entry itself: a timeout's failure carries the `TASK_TIMEOUT` code, a stop grace's end says so.
 */
export function appliedEvent(e: Applying): RunEvent {
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
