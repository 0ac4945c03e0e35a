import { z } from 'zod';
import { timerOf } from '../compile/types.js';
import { describeValue } from '../sequence/problems.js';
import { TaskErrorSchema } from './envelope.js';

/** Ids of tasks as a run's context names them: a task's id, or `<id>.compensate` for its compensation. */
export const TASK_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*(\.compensate)?$/;

const got = (iss: { input?: unknown }) => describeValue(iss.input);

const taskId = z
  .string({ error: (iss) => `expected a task id, got ${got(iss)}` })
  .regex(TASK_ID_PATTERN, { error: (iss) => `expected a task id (letters, digits, "-", "_", optionally ".compensate"), got ${got(iss)}` });

const integerFrom = (min: number) => {
  const error = (iss: { input?: unknown }) => `expected an integer >= ${min}, got ${got(iss)}`;
  return z.number({ error }).int({ error }).min(min, { error });
};

const taskIds = z.array(taskId);

/** A record whose keys must be `what`: a bad key is reported with the key itself. */
export const keyedBy = <K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V, what: string) =>
  z.record(key, value, { error: (iss) => (iss.code === 'invalid_key' ? `expected ${what} as the key, got ${got(iss)}` : undefined) });

const CurrentTaskSchema = z.object({
  taskId,
  attempt: integerFrom(1),
  phase: z.enum(['main', 'compensate', 'finally'], { error: (iss) => `expected "main", "compensate" or "finally", got ${got(iss)}` }),
});

/**
 * The context of a run's machine as a state record carries it ({@link RunContext}): every field typed, and the
 * counters consistent with each other (the attempt in flight is the last one dispatched, a task has not failed
 * more often than it was attempted), so a run restored from it can step.
 */
export const RunContextSchema = z
  .object({
    runId: z.string().min(1),
    input: z.unknown(),
    current: CurrentTaskSchema.nullable(),
    /** Missing in contexts persisted before runs waited for stopped attempts: read as `null`. */
    stopping: CurrentTaskSchema.nullable().optional(),
    attempts: keyedBy(taskId, integerFrom(1), 'a task id'),
    failures: keyedBy(taskId, integerFrom(0), 'a task id'),
    completed: taskIds,
    continued: taskIds,
    results: keyedBy(taskId, z.unknown(), 'a task id'),
    outcome: z.enum(['succeeded', 'failed', 'cancelled']).nullable(),
    reason: z.string().nullable(),
    error: TaskErrorSchema.extend({ taskId }).nullable(),
    compensated: taskIds,
    compensationFailed: taskIds,
    finallyFailed: taskIds,
  })
  .superRefine((c, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (c.current) {
      const dispatched = c.attempts[c.current.taskId];
      if (dispatched === undefined)
        issue(['current', 'taskId'], `task "${c.current.taskId}" is in flight but attempts has no count for it`);
      else if (dispatched !== c.current.attempt)
        issue(['current', 'attempt'], `expected ${dispatched} (attempts["${c.current.taskId}"]), got ${c.current.attempt}`);
    }
    if (c.stopping) {
      const dispatched = c.attempts[c.stopping.taskId] ?? 0;
      if (c.stopping.attempt > dispatched)
        issue(['stopping', 'attempt'], `expected at most ${dispatched} (attempts["${c.stopping.taskId}"]), got ${c.stopping.attempt}`);
      else if (c.current && c.current.taskId === c.stopping.taskId && c.current.attempt === c.stopping.attempt) {
        issue(['stopping'], 'the attempt in flight cannot also be the stopped one');
      }
    }
    for (const [id, failed] of Object.entries(c.failures)) {
      // Each attempt fails at most once, and the one in flight has not failed yet.
      const inFlight = c.current?.taskId === id;
      const most = (c.attempts[id] ?? 0) - (inFlight ? 1 : 0);
      if (failed > most)
        issue(
          ['failures', id],
          `expected at most ${most} (attempts["${id}"]${inFlight ? ', less the attempt in flight' : ''}), got ${failed}`,
        );
    }
  });

/** A state value of a run's machine: a state's name, or `{ parent: child }` two levels deep at most. */
export const StateValueSchema = z.union(
  [z.string().min(1), z.record(z.string().min(1), z.union([z.string().min(1), z.record(z.string().min(1), z.string().min(1))]))],
  { error: (iss) => `expected a state value (a state's name, or { state: child }), got ${got(iss)}` },
);

/** A pending timer's id: `timeout:run`, or `timeout:`, `retry:`, `stop:` or `wait:` followed by `<task>:<attempt>`. */
export const TimerIdSchema = z.string().refine((id) => {
  const timer = timerOf(id);
  return timer !== undefined && (timer.kind === 'run' || TASK_ID_PATTERN.test(timer.taskId));
});

/** What {@link TimerIdSchema} expects, for messages. */
export const TIMER_ID_EXPECTED = 'a timer id (timeout:run, or timeout:, retry:, stop: or wait: then <task>:<attempt>)';

/** An applied attempt's completion: `<task>:<attempt>`. */
export const CompletionSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*(\.compensate)?:[1-9]\d*$/, {
  error: (iss) => `expected <task>:<attempt>, got ${got(iss)}`,
});
