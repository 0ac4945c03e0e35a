import type { Sequence, TaskAction } from './types.js';

/** The queue of shell tasks, and of function tasks that name none. */
export const DEFAULT_QUEUE = 'default';

/**
 * The queue a task's dispatches go to: a queue task's own, a function task's when it names one, else
 * `defaultQueue` (shell tasks, and function tasks that name no queue).
 */
export function actionQueue(action: TaskAction, defaultQueue: string = DEFAULT_QUEUE): string {
  return action.kind === 'shell' || action.kind === 'wait' ? defaultQueue : (action.queue ?? defaultQueue);
}

/** Every queue the tasks of `sequences` dispatch to, `defaultQueue` always included, sorted. */
export function sequenceQueues(sequences: Iterable<Sequence>, defaultQueue: string = DEFAULT_QUEUE): string[] {
  const queues = new Set([defaultQueue]);
  for (const sequence of sequences) {
    for (const task of [...sequence.tasks, ...sequence.finally]) {
      for (const spec of [task, task.compensate])
        if (spec && spec.action.kind !== 'wait') queues.add(actionQueue(spec.action, defaultQueue));
    }
  }
  return [...queues].sort();
}
