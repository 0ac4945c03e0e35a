// `needs` in the compiled machine: the dispatch command (payload.results on the wire) carries only the named results.
import { describe, expect, it } from 'vitest';
import type { Command, RunEvent } from '../../../src/core/compile/types.js';
import { sequence } from '../../../src/core/sequence/builder.js';
import { loadSequenceText } from '../../../src/core/sequence/validate.js';
import { createProgram } from '../../../src/core/step.js';

const ok = (taskId: string, result: unknown): RunEvent => ({ type: 'TASK_SUCCEEDED', taskId, attempt: 1, result });
const dispatches = (commands: readonly Command[]) =>
  commands
    .filter((c): c is Extract<Command, { type: 'dispatch' }> => c.type === 'dispatch')
    .map((c) => ({ task: c.taskId, input: c.input, results: c.results }));

describe('needs: what a dispatch carries', () => {
  it('carries every result by default and only the needed ones with needs, the input always', () => {
    const noop = () => undefined;
    const program = createProgram(
      sequence('s')
        .then('a', noop)
        .then('b', noop)
        .then('c', noop, { needs: ['a'] })
        .then('d', noop, { needs: [] })
        .then('e', noop)
        .build(),
    );
    let r = program.start({ runId: 'r', input: { q: 1 } });
    const seen = [...dispatches(r.commands)];
    for (const id of ['a', 'b', 'c', 'd']) {
      r = program.step(r.snapshot, ok(id, { from: id }));
      seen.push(...dispatches(r.commands));
    }
    expect(seen).toEqual([
      { task: 'a', input: { q: 1 }, results: {} },
      { task: 'b', input: { q: 1 }, results: { a: { from: 'a' } } },
      { task: 'c', input: { q: 1 }, results: { a: { from: 'a' } } },
      { task: 'd', input: { q: 1 }, results: {} },
      { task: 'e', input: { q: 1 }, results: { a: { from: 'a' }, b: { from: 'b' }, c: { from: 'c' }, d: { from: 'd' } } },
    ]);
    // The run itself keeps every result.
    expect(Object.keys(r.snapshot.context.results)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('applies to compensations and finally tasks; a needed task with no result is simply absent', () => {
    const program = createProgram(
      loadSequenceText(`name: s
tasks:
  - id: a
    run: "true"
    compensate: { run: "true", needs: [a] }
  - id: b
    run: "true"
finally:
  - id: f
    run: "true"
    needs: [b]
`),
    );
    let r = program.start({ runId: 'r', input: null });
    r = program.step(r.snapshot, ok('a', 'A'));
    r = program.step(r.snapshot, { type: 'TASK_FAILED', taskId: 'b', attempt: 1, error: { message: 'no' } });
    expect(dispatches(r.commands)).toEqual([{ task: 'a.compensate', input: null, results: { a: 'A' } }]);
    r = program.step(r.snapshot, ok('a.compensate', 'undone'));
    expect(dispatches(r.commands)).toEqual([{ task: 'f', input: null, results: {} }]);
  });

  it('normalises limits: task over sequence over defaults, compensations inherit their task', () => {
    const s = loadSequenceText(`name: s
limits: { runBytes: 1MiB }
tasks:
  - id: a
    run: "true"
    limits: { resultBytes: 10KB }
    compensate: { run: "true" }
  - id: b
    run: "true"
    compensate: { run: "true", limits: { resultBytes: 2048 } }
`);
    expect(s.limits).toEqual({ resultBytes: 1_048_576, runBytes: 1_048_576 });
    expect(s.tasks[0]!.limits).toEqual({ resultBytes: 10_000, runBytes: 1_048_576 });
    expect(s.tasks[0]!.compensate!.limits).toEqual({ resultBytes: 10_000, runBytes: 1_048_576 });
    expect(s.tasks[1]!.limits).toEqual({ resultBytes: 1_048_576, runBytes: 1_048_576 });
    expect(s.tasks[1]!.compensate!.limits).toEqual({ resultBytes: 2_048, runBytes: 1_048_576 });
  });
});
