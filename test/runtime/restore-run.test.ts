import { describe, expect, it } from 'vitest';
import { ErrorCode, LockstepError } from '../../src/core/errors.js';
import { sha256Hex } from '../../src/core/hash.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import { parseRunState } from '../../src/core/protocol/run-state.js';
import { advance, beginRun } from '../../src/core/run/live-run.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { fetchRestoreDefinitions, restoreRunRecord, tryRestoreRun, unknownDefinitions } from '../../src/core/run/restore-run.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { restoreRun, runStateOf } from '../../src/runtime/journals/kafka/run-state-topic.js';

const noop = () => undefined;
const registry = new ProgramRegistry();
const { program } = registry.register(
  sequence('s', { version: 1 })
    .then('a', noop, { retry: { maxAttempts: 3, backoff: { initial: '1s' } } })
    .then('b', noop, { compensate: noop })
    .build(),
  { definition: '', hash: 'h' },
);

/** The record of a run of `s`: `a` failed once and waits for its retry. */
function inBackoff(): RunState {
  const { run } = beginRun(program, { runId: 'r1', at: 1_000 });
  advance(run, { type: 'TASK_FAILED', taskId: 'a', attempt: 1, error: { message: 'x' } }, 1_010);
  return JSON.parse(JSON.stringify(runStateOf(run, {}, 1_010))) as RunState;
}

/** The record with one change, as text (what arrives from the run-state topic). */
const changed = (edit: (s: RunState & { snapshot: { context: Record<string, any> } }) => void) => {
  const state = inBackoff() as RunState & { snapshot: { context: Record<string, any> } };
  edit(state);
  return JSON.stringify(state);
};
const reasonOf = (raw: string) => {
  const restored = restoreRunRecord(registry, raw);
  return restored.ok ? 'restored' : restored.reason;
};

describe('restoring a run from its state record', () => {
  it('restores what lockstep wrote: the run takes its retry timer and goes on', () => {
    const restored = restoreRunRecord(registry, JSON.stringify(inBackoff()));
    expect(restored.ok).toBe(true);
    if (!restored.ok) return;
    expect([...restored.run.timers.keys()]).toEqual(['retry:a:1']);
    const step = advance(restored.run, { type: 'TIMER_FIRED', timerId: 'retry:a:1' }, 2_010);
    expect(step.commands.map((c) => `${c.type} ${'taskId' in c ? c.taskId : ''}`)).toContain('dispatch a');
  });

  it('rejects, with the path, records whose parts disagree', () => {
    expect(
      reasonOf(
        changed((s) => {
          s.status = 'failed';
        }),
      ),
    ).toBe(
      'final: required when status is "failed"; snapshot.status: expected "done" while status is "failed", got "active"; ' +
        'snapshot.value: expected "failed" (the final state of a failed run), got {"main":{"a":"backoff"}}',
    );
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.context.runId = 'r2';
        }),
      ),
    ).toBe('snapshot.context.runId: expected "r1" (the record\'s runId), got "r2"');
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.context.failures = { a: 2 };
        }),
      ),
    ).toBe('snapshot.context.failures.a: expected at most 1 (attempts["a"]), got 2');
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.context.current = { taskId: 'a', attempt: 2, phase: 'main' };
        }),
      ),
    ).toBe(
      'snapshot.context.current.attempt: expected 1 (attempts["a"]), got 2; ' +
        'snapshot.context.failures.a: expected at most 0 (attempts["a"], less the attempt in flight), got 1',
    );
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.context.attempts = { a: 0 };
        }),
      ),
    ).toBe(
      'snapshot.context.attempts.a: expected an integer >= 1, got 0; snapshot.context.failures.a: expected at most 0 (attempts["a"]), got 1',
    );
    expect(
      reasonOf(
        changed((s) => {
          (s as { timers: Record<string, number> }).timers = { later: 5 };
        }),
      ),
    ).toBe(
      'timers.later: expected a timer id (timeout:run, or timeout:, retry:, stop: or wait: then <task>:<attempt>) as the key, got "later"',
    );
    expect(
      reasonOf(
        changed((s) => {
          delete s.snapshot.context.completed;
        }),
      ),
    ).toBe('snapshot.context.completed: required');
  });

  it('rejects, with the path, records that are not a state of their sequence', () => {
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.context.attempts = { a: 1, ghost: 1 };
        }),
      ),
    ).toBe('snapshot.context.attempts.ghost: unknown task "ghost" (not in sequence s 1)');
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.context.completed = ['b.compensate'];
        }),
      ),
    ).toBe('snapshot.context.completed[0]: expected a main task, got "b.compensate" (a compensate task)');
    expect(
      reasonOf(
        changed((s) => {
          (s as { timers: Record<string, number> }).timers = {};
        }),
      ),
    ).toBe('timers: expected the retry timer "retry:a:1" in state "main.a.backoff", got none');
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.value = { main: { a: 'running' } };
        }),
      ),
    ).toBe('snapshot.context.current: expected task "a" attempt 1 (main) in state "main.a.running", got null');
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.value = 'main';
        }),
      ),
    ).toBe('snapshot.value: "main" has states within it: expected one of them');
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.value = { main: { c: 'running' } };
        }),
      ),
    ).toBe('snapshot.value: "main.c.running" is not a state of sequence s 1');
    expect(
      reasonOf(
        changed((s) => {
          s.snapshot.value = 'settling';
        }),
      ),
    ).toBe('snapshot.value: "settling" is passed through within a step, never kept');
  });

  it('says when the sequence is unknown here, apart from records that can never restore', () => {
    const restored = tryRestoreRun(registry, { ...inBackoff(), version: '2' });
    expect(restored).toEqual({ ok: false, code: ErrorCode.unknownSequence, reason: 'sequence: unknown sequence "s" version 2 (known: s)' });
    expect(restoreRunRecord(registry, '{')).toMatchObject({
      ok: false,
      code: ErrorCode.invalidMessage,
      reason: expect.stringMatching(/^not JSON: /),
    });
  });

  it('restoreRun throws that reason as a LockstepError', () => {
    const parsed = parseRunState(
      changed((s) => {
        (s as { timers: Record<string, number> }).timers = {};
      }),
    );
    expect(parsed.success).toBe(true);
    if (!parsed.success) return;
    expect(() => restoreRun(registry, parsed.state)).toThrow(LockstepError);
    expect(() => restoreRun(registry, parsed.state)).toThrow(
      'run r1: timers: expected the retry timer "retry:a:1" in state "main.a.backoff", got none',
    );
  });
});

describe('restoring a run under the definition it started with', () => {
  const first = 'name: pinned\nversion: 1\ntasks:\n  - id: a\n    run: echo one\n';
  const edited = 'name: pinned\nversion: 1\ntasks:\n  - id: x\n    run: echo other\n';
  const stateOf = (text: string) => {
    const own = new ProgramRegistry();
    const entry = own.register(loadSequenceText(text), { definition: text, hash: sha256Hex(text) });
    const { run } = beginRun(entry.program, { runId: 'p1', at: 1_000, definitionHash: entry.hash });
    return JSON.parse(JSON.stringify(runStateOf(run, { definitionHash: entry.hash }, 1_000))) as RunState;
  };

  it('finds it by the hash the state carries, not by its version', async () => {
    const registry = new ProgramRegistry();
    registry.register(loadSequenceText(edited), { definition: edited, hash: sha256Hex(edited) });
    const state = stateOf(first);
    expect(unknownDefinitions(registry, [state])).toEqual([sha256Hex(first)]);
    await fetchRestoreDefinitions(registry, [state], async () => new Map([[sha256Hex(first), first]]));
    expect(unknownDefinitions(registry, [state])).toEqual([]);
    const restored = tryRestoreRun(registry, state);
    expect(restored.ok && restored.run.program.sequence.tasks.map((t) => t.id)).toEqual(['a']);
    expect(restored.ok && restored.run.definitionHash).toBe(sha256Hex(first));
  });

  it('fails, naming the hash, when the definition is nowhere', () => {
    const registry = new ProgramRegistry();
    registry.register(loadSequenceText(edited), { definition: edited, hash: sha256Hex(edited) });
    expect(tryRestoreRun(registry, stateOf(first))).toEqual({
      ok: false,
      code: ErrorCode.unknownSequence,
      reason: `definitionHash: definition sha256:${sha256Hex(first)} of sequence "pinned" version 1 is unknown: not registered here, and not found where definitions are published`,
    });
  });
});
