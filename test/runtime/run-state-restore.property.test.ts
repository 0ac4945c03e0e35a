// Property suite: a run.state record either is rejected with a reason (by its schema, or on restore against its
// sequence), or restores and steps on any event without throwing; and every record lockstep itself writes restores.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/core/compile/types.js';
import { parseEnvelope } from '../../src/core/protocol/envelope.js';
import type { FinalEntry } from '../../src/core/protocol/run-entry.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import { parseRunState } from '../../src/core/protocol/run-state.js';
import type { LiveRun } from '../../src/core/run/live-run.js';
import { advance } from '../../src/core/run/live-run.js';
import { restoreRunRecord, tryRestoreRun } from '../../src/core/run/restore-run.js';
import type { Program } from '../../src/core/step.js';
import { finalEntryOf } from '../../src/runtime/journals/kafka/run-state-topic.js';
import { toRunEvent } from '../../src/runtime/messages.js';
import { mutate, mutationArb, pathsOf, REASON } from '../support/mutations.js';
import { choicesArb, eventFor, leafValues, programPool, recordOf, simulate, taskIdsOf } from '../support/run-state-fuzz.js';

const CASES = 10_000;
const debugReasons = new Map<string, number>();
const { registry, programs } = programPool();

/** Real records: every state lockstep wrote while running the pool's programs through random events. */
const corpus: Array<{ record: RunState; next?: { event: RunEvent; record: RunState } }> = fc
  .sample(fc.tuple(fc.nat(programs.length - 1), choicesArb(14)), { numRuns: 250, seed: 7 })
  .flatMap(([i, choices]) => {
    const steps = simulate(programs[i]!, choices);
    return steps.map((s, k) => {
      const next = steps[k + 1];
      return { record: s.record, ...(next?.event ? { next: { event: next.event, record: next.record } } : {}) };
    });
  });

/** The wire message an event arrives as (reports, timers and cancels come over the events topic). */
function wireOf(runId: string, event: RunEvent): string | undefined {
  const header = { v: 1, id: 'm-1', runId, time: '2026-12-01T00:00:00.000Z' };
  switch (event.type) {
    case 'TASK_SUCCEEDED':
      return JSON.stringify({
        ...header,
        type: 'task.succeeded',
        taskId: event.taskId,
        attempt: event.attempt,
        payload: event.result === undefined ? {} : { result: event.result },
      });
    case 'TASK_FAILED':
      return JSON.stringify({
        ...header,
        type: 'task.failed',
        taskId: event.taskId,
        attempt: event.attempt,
        payload: { error: event.error },
      });
    case 'TIMER_FIRED':
      return JSON.stringify({ ...header, type: 'timer.fired', payload: { timerId: event.timerId, dueAt: 0 } });
    case 'CANCEL':
      return JSON.stringify({ ...header, type: 'run.cancel', payload: event.reason ? { reason: event.reason } : {} });
    default:
      return undefined; // interruptions come from resume, not the wire
  }
}

/** Steps a run the way an orchestrator does: events decoded from the wire, each applied by `advance`. */
function step(run: LiveRun, choices: ReadonlyArray<readonly [number, number]>, at: number): { final?: FinalEntry; applied: number } {
  let applied = 0;
  for (const [choice, pick] of choices) {
    const event = eventFor(run, choice, pick);
    const wire = wireOf(run.runId, event);
    let fed = event;
    if (wire !== undefined) {
      const parsed = parseEnvelope(wire);
      if (!parsed.success) throw new Error(`a valid event did not parse: ${parsed.reason}`);
      fed = toRunEvent(parsed.envelope)!;
    }
    const result = advance(run, fed, at);
    if (!result.ignored) applied++;
    const final = result.entries.find(
      (e): e is FinalEntry => e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.cancelled',
    );
    if (final) return { final, applied };
  }
  return { applied };
}

type Verdict = 'rejected by schema' | 'rejected on restore' | 'finished' | 'restored';

function note(reason: string): void {
  if (!process.env.DEBUG_REASONS) return;
  const k = reason
    .replace(/"[^"]*"/g, '_')
    .replace(/\d+/g, 'N')
    .slice(0, 80);
  debugReasons.set(k, (debugReasons.get(k) ?? 0) + 1);
}

/**
 * Restores a record's text as an orchestrator does on partition assignment (parse it, remember a finished
 * run, restore the others) and steps it. Throws only if the property is broken.
 */
function restoreAndStep(raw: string, choices: ReadonlyArray<readonly [number, number]>): Verdict {
  const parsed = parseRunState(raw);
  if (!parsed.success) {
    note(parsed.reason);
    if (!REASON.test(parsed.reason)) throw new Error(`a rejection without a path: ${parsed.reason}`);
    return 'rejected by schema';
  }
  const restored = tryRestoreRun(registry, parsed.state);
  if (!restored.ok) {
    note(restored.reason);
    if (!REASON.test(restored.reason) || restored.reason.includes('the machine cannot restore it'))
      throw new Error(`an unexpected rejection: ${restored.reason}`);
    return 'rejected on restore';
  }
  if (finalEntryOf(parsed.state)) return 'finished';
  const run = restored.run;
  const at = parsed.state.updatedAt + 1;
  const { final, applied } = step(run, choices, at);
  if (applied > 0) {
    // What the orchestrator writes next restores again.
    const again = restoreRunRecord(registry, JSON.stringify(recordOf(run, final, at)));
    if (!again.ok) throw new Error(`the state written after restoring does not restore: ${again.reason}`);
  }
  return 'restored';
}

/** Values a field of a record might be changed to: near misses first, then anything JSON. */
const nearMiss = (program: Program) =>
  fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(null, 0, -1, 1, 2, 7, 1.5, '', 'ghost', 'ghost.compensate', 'timeout:run', 'retry:ghost:1', true, [], {}),
    },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        ...taskIdsOf(program),
        ...leafValues(program),
        'running',
        'succeeded',
        'active',
        'done',
        'main',
        'compensate',
      ),
    },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );

/** A run.state record built from the schema's shape, with values drawn from a sequence's own ids and states. */
function shapedRecordOf(program: Program) {
  const known = taskIdsOf(program);
  const taskId = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...known) },
    { weight: 1, arbitrary: fc.constantFrom('ghost', 'ghost.compensate') },
  );
  const attempt = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5) });
  const attemptOf = fc.record({ taskId, attempt, phase: fc.constantFrom('main', 'compensate', 'finally') });
  const counts = fc.dictionary(taskId, attempt, { maxKeys: 3 });
  const timerId = fc.oneof(
    { weight: 10, arbitrary: fc.tuple(fc.constantFrom('timeout', 'retry', 'stop'), taskId, attempt).map(([k, t, a]) => `${k}:${t}:${a}`) },
    { weight: 1, arbitrary: fc.constantFrom('timeout:run', 'later', 'retry:x') },
  );
  const rare = <T>(usual: T, ...others: T[]) =>
    fc.oneof({ weight: 12, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...others) });
  const context = fc.record(
    {
      runId: rare('run-1', 'run-2', ''),
      input: fc.jsonValue({ maxDepth: 1 }),
      current: fc.option(attemptOf, { nil: null }),
      stopping: fc.option(attemptOf, { nil: null }),
      attempts: counts,
      failures: counts,
      completed: fc.array(taskId, { maxLength: 2 }),
      continued: fc.array(taskId, { maxLength: 1 }),
      results: fc.dictionary(taskId, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
      outcome: fc.constantFrom(null, 'succeeded', 'failed', 'cancelled'),
      reason: fc.constantFrom(null, 'why'),
      error: fc.option(fc.record({ message: fc.constant('boom'), taskId }), { nil: null }),
      compensated: fc.array(taskId, { maxLength: 1 }),
      compensationFailed: fc.array(taskId, { maxLength: 1 }),
      finallyFailed: fc.array(taskId, { maxLength: 1 }),
    },
    {
      requiredKeys: [
        'runId',
        'input',
        'current',
        'attempts',
        'failures',
        'completed',
        'continued',
        'results',
        'outcome',
        'reason',
        'error',
        'compensated',
        'compensationFailed',
        'finallyFailed',
      ],
    },
  );
  return fc
    .record({
      value: fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(...leafValues(program)) },
        { weight: 1, arbitrary: fc.constantFrom('main', 'nowhere', { main: {} }, 'rejected', 7) },
      ),
      context,
      status: fc.constantFrom('running', 'running', 'running', 'succeeded', 'failed', 'cancelled'),
      snapshotStatus: fc.constantFrom('active', 'done'),
      withFinal: fc.boolean(),
      coherent: fc.boolean(),
      timers: fc.dictionary(timerId, fc.integer({ min: 0, max: 2_000_000 }), { maxKeys: 3 }),
      completions: fc.array(
        fc.tuple(taskId, attempt).map(([t, a]) => `${t}:${a}`),
        { maxLength: 2 },
      ),
    })
    .map(({ value, context, status, snapshotStatus, withFinal, coherent, timers, completions }) => {
      const ctx: Record<string, unknown> = { ...context };
      const running = status === 'running';
      if (coherent) {
        // Make what the state value implies hold, so that more records get as far as stepping.
        const path = JSON.stringify(value).replace(/[{}"]/g, '').split(':');
        const phase = path[0] === 'compensating' ? 'compensate' : path[0] === 'finalizing' ? 'finally' : 'main';
        const id = path.length === 3 ? (phase === 'compensate' ? `${path[1]}.compensate` : path[1]) : undefined;
        const attempts = { ...(ctx.attempts as Record<string, number>) };
        ctx.current = null;
        if (id && path[2] !== 'check') {
          attempts[id] = Math.max(1, attempts[id] ?? 1);
          if (path[2] === 'running') ctx.current = { taskId: id, attempt: attempts[id], phase };
          if (path[2] === 'backoff') timers[`retry:${id}:${attempts[id]}`] = 5;
        }
        ctx.attempts = attempts;
        ctx.failures = Object.fromEntries(
          Object.entries(ctx.failures as Record<string, number>).filter(([t, n]) => n <= (attempts[t] ?? 0)),
        );
        if (ctx.stopping && !path.includes('waiting') && !path.includes('draining')) ctx.stopping = null;
        const ofPhase = (p: string) => (t: string) =>
          program.sequence.tasks.some((s) => (p === 'main' ? s.id : s.compensate?.id) === t) ||
          (p === 'finally' && program.sequence.finally.some((s) => s.id === t));
        for (const [field, p] of [
          ['completed', 'main'],
          ['continued', 'main'],
          ['compensated', 'compensate'],
          ['compensationFailed', 'compensate'],
          ['finallyFailed', 'finally'],
        ] as const) {
          ctx[field] = (ctx[field] as string[]).filter(ofPhase(p));
        }
      }
      const current = (ctx.current as { taskId: string } | null)?.taskId;
      return {
        v: 1,
        type: 'run.state',
        runId: 'run-1',
        time: '2026-12-01T00:00:00.000Z',
        sequence: program.sequence.name,
        version: program.sequence.version,
        status,
        ...(running && current ? { currentTask: current } : {}),
        createdAt: 1_000_000,
        updatedAt: 1_000_100,
        snapshot: {
          value: running || !coherent ? value : status,
          context: ctx,
          status: coherent ? (running ? 'active' : 'done') : snapshotStatus,
        },
        timers,
        attemptStartedAt: 1_000_050,
        completions,
        ...((coherent ? !running : withFinal) ? { final: { outcome: status, durationMs: 100, failedTasks: [] } } : {}),
      };
    });
}

// Built once per program: building arbitraries is the costly part of a case.
const shapedByProgram = programs.map(shapedRecordOf);
const shapedRecord = fc.nat(programs.length - 1).chain((i) => shapedByProgram[i]!);

describe('run.state restore (property)', () => {
  it('restores every record lockstep writes, and the restored run steps as the original does', () => {
    expect(corpus.length).toBeGreaterThan(500);
    for (const { record, next } of corpus) {
      const restored = restoreRunRecord(registry, JSON.stringify(record));
      if (!restored.ok) throw new Error(`a written record does not restore: ${restored.reason}\n${JSON.stringify(record)}`);
      if (!next) continue;
      // The next event, applied to the restored run, writes the very record the original run wrote.
      const at = next.record.updatedAt;
      const stepped = advance(restored.run, next.event, at);
      const final = stepped.entries.find(
        (e): e is FinalEntry => e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.cancelled',
      );
      expect(recordOf(restored.run, final, at)).toEqual(next.record);
    }
  });

  it(`rejects with a reason, or restores and steps: ${CASES} records built from the schema's shape`, () => {
    const seen = new Map<Verdict, number>();
    fc.assert(
      fc.property(shapedRecord, choicesArb(2), (record, choices) => {
        const verdict = restoreAndStep(JSON.stringify(record), choices);
        seen.set(verdict, (seen.get(verdict) ?? 0) + 1);
      }),
      { numRuns: CASES },
    );
    if (process.env.DEBUG_REASONS) console.log([...debugReasons].sort((a, b) => b[1] - a[1]).slice(0, 30), seen);
    // The generator reaches every verdict, stepping included, often enough to mean something.
    for (const verdict of ['rejected by schema', 'rejected on restore', 'restored'] as const)
      expect(seen.get(verdict) ?? 0).toBeGreaterThan(CASES / 50);
  });

  it(`rejects with a reason, or restores and steps: ${CASES} written records with one field changed`, () => {
    const seen = new Map<Verdict, number>();
    const texts = corpus.map(({ record }) => ({
      raw: JSON.stringify(record),
      paths: pathsOf(record),
      program: programs.find((p) => p.sequence.name === record.sequence)!,
    }));
    const mutations = new Map(programs.map((p) => [p, mutationArb(nearMiss(p), fc.constantFrom(...taskIdsOf(p), 'ghost', 'extra'))]));
    const changed = fc.nat(texts.length - 1).chain((i) => {
      const { raw, paths, program } = texts[i]!;
      return mutations.get(program)!.map((mutation) => [raw, paths, mutation] as const);
    });
    fc.assert(
      fc.property(changed, choicesArb(2), ([raw, paths, mutation], choices) => {
        const verdict = restoreAndStep(mutate(raw, paths, mutation), choices);
        seen.set(verdict, (seen.get(verdict) ?? 0) + 1);
      }),
      { numRuns: CASES },
    );
    for (const verdict of ['rejected by schema', 'restored'] as const) expect(seen.get(verdict) ?? 0).toBeGreaterThan(CASES / 50);
  });
});
