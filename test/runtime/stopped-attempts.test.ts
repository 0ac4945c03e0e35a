import { describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import { STOP_GRACE_MS } from '../../src/core/compile/types.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { advance, beginRun, replay } from '../../src/core/run/live-run.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { TaskContext } from '../../src/core/sequence/types.js';
import { createProgram } from '../../src/core/step.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';
import { harness, idle } from '../support/embedded-harness.js';

const brief = (entries: readonly RunEntry[]) =>
  entries
    .filter((e) => e.type !== 'run.started')
    .map((e) => `${e.type}${'task' in e ? ` ${e.task}#${e.attempt}` : ''}${e.type === 'task.stopped' ? ` ${e.how}` : ''}`);

describe('runtime: a stopped attempt that never reports', () => {
  it('goes on after the stop grace, and ignores the report that comes after it as late', async () => {
    let release: ((value: unknown) => void) | undefined;
    const seq = sequence('deaf')
      .then(
        'a',
        (ctx: TaskContext) => {
          // Attempt 1 ignores its abort, like a worker that died: it reports only when the test lets it.
          if (ctx.attempt === 1) return new Promise((resolve) => (release = resolve));
          return 'second';
        },
        { timeout: '10s', retry: { maxAttempts: 2, backoff: { initial: '20s' } } },
      )
      .build();
    const h = await harness(seq);
    let released = false;
    const { runId, final } = await h.run(undefined, async (id) => {
      // In the backoff after the grace ran out (at 25 s, before the retry at 30 s): the report comes, late.
      if (released || h.of(id, 'task.stopped').length === 0) return;
      released = true;
      release!('first, too late');
      await idle();
    });
    expect(final.type).toBe('run.succeeded');
    expect(brief(h.of(runId))).toEqual([
      'task.started a#1',
      'task.failed a#1',
      'task.stopped a#1 grace-expired',
      'event.ignored',
      'timer.fired',
      'task.started a#2',
      'task.succeeded a#2',
      'run.succeeded',
    ]);
    const stopped = h.of(runId, 'task.stopped')[0] as Extract<RunEntry, { type: 'task.stopped' }>;
    expect(stopped.durationMs).toBe(10_000 + STOP_GRACE_MS);
    expect(h.of(runId, 'event.ignored')).toMatchObject([{ reason: 'late', event: { type: 'TASK_SUCCEEDED', taskId: 'a', attempt: 1 } }]);
    expect(h.runtime.orchestrator.stats.ignored.late).toBe(1);
    await h.close();
  });

  it('records the report of a stopped attempt once; a copy of it is a duplicate', () => {
    const program = createProgram(
      sequence('dup')
        .then('a', () => 1, { timeout: '1s', retry: { maxAttempts: 2, backoff: { initial: '1m' } } })
        .build(),
    );
    const { run } = beginRun(program, { runId: 'r', at: 0 });
    advance(run, { type: 'TIMER_FIRED', timerId: 'timeout:a:1' }, 1_000);
    const report = { type: 'TASK_FAILED', taskId: 'a', attempt: 1, error: { message: 'aborted' } } as const;
    expect(advance(run, report, 1_500).entries).toMatchObject([
      { type: 'task.stopped', how: 'reported', durationMs: 1_500, error: { message: 'aborted' } },
    ]);
    expect(advance(run, report, 1_600)).toMatchObject({ ignored: 'duplicate' });
    expect(run.timers.has('stop:a:1')).toBe(false);
  });
});

describe('runtime: replay and resume with a stopped attempt', () => {
  const seq = sequence('saga')
    .then('a', () => 'a', { compensate: () => 'undo a' })
    .then('b', () => 'b')
    .finally('f', () => 'f')
    .build();

  it('replays a history recorded while the run waited for a cancelled attempt, and one recorded before runs waited', () => {
    const program = createProgram(seq);
    const { run, entries } = beginRun(program, { runId: 'r', at: 0 });
    const history = [...entries];
    history.push(...advance(run, { type: 'TASK_SUCCEEDED', taskId: 'a', attempt: 1 }, 10).entries);
    history.push(...advance(run, { type: 'CANCEL', reason: 'stop' }, 20).entries);
    const waiting = replay(program, history);
    expect(waiting.snapshot.value).toEqual({ compensating: { a: 'waiting' } });
    expect(waiting.timers.get('stop:b:1')).toBe(20 + STOP_GRACE_MS);
    // An earlier lockstep dispatched the compensation at once, with no task.stopped entry.
    const legacy: RunEntry[] = [
      ...history,
      {
        type: 'task.started',
        runId: 'r',
        at: 20,
        task: 'a.compensate',
        attempt: 1,
        phase: 'compensate',
        idempotencyKey: 'r:a.compensate:1',
      },
    ];
    const replayed = replay(program, legacy);
    expect(replayed.snapshot.value).toEqual({ compensating: { a: 'running' } });
    expect(replayed.snapshot.context.stopping).toBeNull();
    expect(replayed.snapshot.context.current).toMatchObject({ taskId: 'a.compensate', attempt: 1 });
    expect(replayed.timers.has('stop:b:1')).toBe(false);
  });

  it('on resume, the cancelled attempt the run waited for is recorded as lost with its process, and the run goes on', async () => {
    const program = createProgram(seq);
    const { run, entries } = beginRun(program, { runId: 'r-resume', at: 0 });
    const history = [...entries];
    history.push(...advance(run, { type: 'TASK_SUCCEEDED', taskId: 'a', attempt: 1 }, 10).entries);
    history.push(...advance(run, { type: 'CANCEL', reason: 'stop' }, 20).entries);
    const store = new MemoryRunStore();
    await store.create(
      {
        runId: 'r-resume',
        sequence: 'saga',
        version: seq.version,
        definition: '',
        definitionHash: '',
        input: null,
        status: 'running',
        createdAt: 0,
        updatedAt: 20,
      },
      history,
    );
    const seen: RunEntry[] = [];
    const runtime = await createEmbeddedRuntime({ store, onEntry: (e) => seen.push(e) });
    runtime.register(seq);
    await runtime.orchestrator.resume('r-resume');
    const final = await runtime.orchestrator.waitFor('r-resume');
    await runtime.close();
    expect(final.outcome).toBe('cancelled');
    expect(brief(seen)).toEqual([
      'task.stopped b#1 interrupted',
      'task.started a.compensate#1',
      'task.succeeded a.compensate#1',
      'task.started f#1',
      'task.succeeded f#1',
      'run.cancelled',
    ]);
  });
});
