import { z } from 'zod';
import type { RunContext } from '../compile/types.js';
import type { PersistedRun } from '../step.js';
import { PROTOCOL_VERSION, TraceparentSchema } from './envelope.js';
import { check, DERIVED_MAX_DEPTH, parseRecord } from './parse-record.js';
import { CompletionSchema, keyedBy, RunContextSchema, StateValueSchema, TIMER_ID_EXPECTED, TimerIdSchema } from './run-context.js';

const id = z.string().min(1).max(200);

/** How a run ended, as kept in its last state record. */
export const RunFinalSchema = z.object({
  outcome: z.enum(['succeeded', 'failed', 'cancelled']),
  reason: z.string().optional(),
  durationMs: z.number(),
  failedTasks: z.array(z.string()),
});

/** The state value of a run that never started (its sequence is unknown): see `rejectedRunState`. */
export const REJECTED_STATE = 'rejected';

/**
 * `run.state`: the state of one run on the compacted run-state topic, keyed by run id. Orchestrators write it in
 * the same transaction as the commands of the step that produced it, and restore runs from it when they are
 * assigned the run's partition. Timers carry absolute due times so they fire at their original time.
 *
 * Besides each field's type, a record must be one lockstep can have written: a finished run has its `final` and
 * a done snapshot, a running one neither; the context is a whole run context ({@link RunContextSchema}) of the
 * same run. What only the run's sequence can tell (its states and task ids) is checked on restore.
 */
/**
 * Times are ms since the epoch, from 0 to a day short of the end of a JavaScript Date's range (8.64e15 ms), so a
 * time after any accepted one still has an ISO form.
 */
const MAX_TIME_MS = 8.64e15 - 86_400_000;
const TIME_EXPECTED = `expected a time in ms since the epoch, from 0 to ${MAX_TIME_MS}`;
const timestamp = z.number({ error: TIME_EXPECTED }).min(0, { error: TIME_EXPECTED }).max(MAX_TIME_MS, { error: TIME_EXPECTED });

export const RunStateSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    type: z.literal('run.state'),
    runId: id,
    /** ISO-8601 time the state was written. */
    time: z.string().min(1),
    sequence: id,
    version: z.string(),
    /** sha256 of the definition the run started with. */
    definitionHash: z.string().optional(),
    /** The W3C `traceparent` the run started with, so that its trace goes on wherever it is restored. */
    traceparent: TraceparentSchema.optional(),
    status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
    /** The task in flight, if any. */
    currentTask: z.string().optional(),
    createdAt: timestamp,
    updatedAt: timestamp,
    /** The machine's snapshot (`Program.persist`): state value, context and status. */
    snapshot: z.object({ value: z.unknown(), context: z.record(z.string(), z.unknown()), status: z.enum(['active', 'done']) }),
    /** Pending timers: id -> due time in ms since the epoch. */
    timers: keyedBy(TimerIdSchema, timestamp, TIMER_ID_EXPECTED),
    /** When the attempt in flight was dispatched (ms since the epoch). */
    attemptStartedAt: timestamp,
    /** Attempts (`task:attempt`) whose own completion was applied: tells a duplicate report from a late one. */
    completions: z.array(CompletionSchema),
    /** Set once the run has ended. */
    final: RunFinalSchema.optional(),
    /**
     * How many history entries the run has so far (on `<prefix>.history`): the `seq` of its next one, so that a run
     * restored elsewhere goes on numbering where it stood. Absent from records written before history was kept.
     */
    entries: z.number().int().min(0).optional(),
    /**
     * Set when the whole state would not fit the topic's record limit: what was left out (`snapshot.context.results`,
     * then `snapshot.context.input`, then the snapshot itself) and why. A running run restored from such a record
     * fails every task it dispatches after that, with this reason.
     */
    reduced: z.object({ reason: z.string(), dropped: z.array(z.string()) }).optional(),
  })
  .superRefine((s, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const running = s.status === 'running';
    if (running && s.final) issue(['final'], 'expected nothing while status is "running"');
    if (!running && !s.final) issue(['final'], `required when status is "${s.status}"`);
    if (s.final && !running && s.final.outcome !== s.status)
      issue(['final', 'outcome'], `expected "${s.status}" (the status), got "${s.final.outcome}"`);
    const snapshotStatus = running ? 'active' : 'done';
    if (s.snapshot.status !== snapshotStatus)
      issue(['snapshot', 'status'], `expected "${snapshotStatus}" while status is "${s.status}", got "${s.snapshot.status}"`);
    const value = check(StateValueSchema, s.snapshot.value);
    if (!value.success) {
      for (const i of value.issues) ctx.addIssue({ ...i, path: ['snapshot', 'value', ...i.path] } as never);
      return;
    }
    const context = s.snapshot.context;
    if (context.runId !== s.runId)
      issue(
        ['snapshot', 'context', 'runId'],
        `expected "${s.runId}" (the record's runId), got ${JSON.stringify(context.runId) ?? 'nothing'}`,
      );
    // A state too large for its topic may be stored without its snapshot: only its status and outcome remain, which
    // is enough for a finished run; a running one could never be restored from it.
    if (s.reduced?.dropped.includes('snapshot')) {
      if (running) issue(['reduced', 'dropped'], 'expected a snapshot: a running run stored without one cannot be restored');
      return;
    }
    if (s.snapshot.value === REJECTED_STATE) {
      // A run that never started keeps only its id and input.
      if (s.status !== 'failed')
        issue(
          ['snapshot', 'value'],
          `"${REJECTED_STATE}" is the state of a run that never started, which failed; got status "${s.status}"`,
        );
      return;
    }
    if (!running && s.snapshot.value !== s.status) {
      issue(
        ['snapshot', 'value'],
        `expected "${s.status}" (the final state of a ${s.status} run), got ${JSON.stringify(s.snapshot.value)}`,
      );
    }
    const parsed = check(RunContextSchema, context);
    if (!parsed.success) {
      for (const i of parsed.issues) ctx.addIssue({ ...i, path: ['snapshot', 'context', ...i.path] } as never);
      return;
    }
    const current = parsed.data.current?.taskId;
    if (running && s.currentTask !== current) {
      issue(
        ['currentTask'],
        `expected ${current === undefined ? 'nothing' : `"${current}"`} (snapshot.context.current), got ${s.currentTask === undefined ? 'nothing' : `"${s.currentTask}"`}`,
      );
    }
  });

/**
 * A run's state on the run-state topic in Kafka mode: status, machine snapshot, pending timers and, once it has
 * ended, its final outcome. What `LockstepClient.status` and `wait` return.
 */
export type RunState = z.infer<typeof RunStateSchema>;
export type RunFinal = z.infer<typeof RunFinalSchema>;

/** Parses a run-state record's text. Never throws. */
export function parseRunState(raw: string): { success: true; state: RunState } | { success: false; reason: string } {
  const parsed = parseRecord(RunStateSchema, raw, { maxDepth: DERIVED_MAX_DEPTH });
  return parsed.success ? { success: true, state: parsed.data } : parsed;
}

/** The persisted snapshot of a state record, typed for `Program.restore`. */
export function persistedOf(state: RunState): PersistedRun {
  return { value: state.snapshot.value, context: state.snapshot.context as unknown as RunContext, status: state.snapshot.status };
}
