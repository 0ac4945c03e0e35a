// The structure of a sequence made in code: the text another process compiles into the same machine.
import { describe, expect, it } from 'vitest';
import { DefinitionError } from '../../../src/core/errors.js';
import { sequence } from '../../../src/core/sequence/builder.js';
import { sequenceQueues } from '../../../src/core/sequence/queues.js';
import { sequenceText } from '../../../src/core/sequence/sequence-text.js';
import type { Sequence, TaskSpec } from '../../../src/core/sequence/types.js';
import { loadSequenceText, validateSequence } from '../../../src/core/sequence/validate.js';
import { createProgram } from '../../../src/core/step.js';

const fn = async () => ({ ok: true });

/** A spec with its function replaced by the queue it runs on: what the structure keeps of it. */
function structural(spec: TaskSpec): TaskSpec {
  const action = spec.action.kind === 'handler' ? { kind: 'queue' as const, queue: spec.action.queue ?? 'default' } : spec.action;
  return { ...spec, action, ...(spec.compensate ? { compensate: structural(spec.compensate) } : {}) };
}
const structureOf = (s: Sequence): Sequence => ({ ...s, tasks: s.tasks.map(structural), finally: s.finally.map(structural) });

const everything = sequence('everything', {
  version: 7,
  description: 'all the options',
  timeout: '10m',
  limits: { resultBytes: '64KiB', runBytes: '2MiB' },
})
  .then('build', fn, {
    description: 'a function',
    timeout: '30s',
    retry: { maxAttempts: 3, backoff: { initial: '500ms', factor: 3, max: '10s', jitter: 0.2 } },
  })
  .then('charge', fn, { queue: 'payments', compensate: { handler: fn, queue: 'refunds' }, needs: ['build'] })
  .then(
    'push',
    { run: './push.sh "$X"', env: { X: '1' }, cwd: 'deploy' },
    { compensate: { run: './undo.sh' }, limits: { resultBytes: 1024 } },
  )
  .then('notify', { queue: 'mail' }, { onFailure: 'continue', retry: { maxAttempts: 2 } })
  .finally('cleanup', fn, { timeout: 1500 })
  .finally('log', { run: 'echo done' }, { needs: ['push'] })
  .build();

describe('sequenceText', () => {
  it('compiles back into the same sequence, with each function as a task of its queue', () => {
    const text = sequenceText(everything);
    const back = loadSequenceText(text);
    expect(back).toEqual(structureOf(everything));
    expect(sequenceText(back)).toBe(text);
    expect(JSON.parse(text).tasks.slice(0, 2)).toEqual([
      {
        id: 'build',
        queue: 'default',
        description: 'a function',
        timeout: 30_000,
        retry: { maxAttempts: 3, backoff: { initial: 500, factor: 3, max: 10_000, jitter: 0.2 } },
      },
      { id: 'charge', queue: 'payments', needs: ['build'], compensate: { queue: 'refunds' } },
    ]);
  });

  it('gives the machine compiled from the code and the one compiled from the text the same runs', () => {
    const fromCode = createProgram(everything);
    const fromText = createProgram(loadSequenceText(sequenceText(everything)));
    expect(JSON.stringify(fromText.machine.root.definition)).toBe(JSON.stringify(fromCode.machine.root.definition));
    const a = fromCode.start({ runId: 'r', input: 1 });
    const b = fromText.start({ runId: 'r', input: 1 });
    expect(b.commands).toEqual(a.commands);
    const event = { type: 'TASK_FAILED', taskId: 'build', attempt: 1, error: { message: 'x' } } as const;
    expect(fromText.step(b.snapshot, event).commands).toEqual(fromCode.step(a.snapshot, event).commands);
  });

  it('leaves defaults out, and is the same text for the same sequence', () => {
    const small = sequence('small').then('a', fn).build();
    expect(JSON.parse(sequenceText(small))).toEqual({ name: 'small', version: '1', tasks: [{ id: 'a', queue: 'default' }] });
    expect(
      sequenceText(
        sequence('small')
          .then('a', async () => 2)
          .build(),
      ),
    ).toBe(sequenceText(small));
  });
});

describe("a function task's queue", () => {
  it('is set by the builder, and lists with the other queues of a sequence', () => {
    expect(everything.tasks[1]!.action).toMatchObject({ kind: 'handler', queue: 'payments' });
    expect(everything.tasks[0]!.action).not.toHaveProperty('queue');
    expect(sequenceQueues([everything])).toEqual(['default', 'mail', 'payments', 'refunds']);
  });

  it('belongs to functions only', () => {
    expect(() => sequence('s').then('a', { run: 'true' }, { queue: 'q' }).build()).toThrow(DefinitionError);
    const file = validateSequence({ name: 's', tasks: [{ id: 'a', run: 'true', queue: 'q' }] });
    expect(file.success ? [] : file.problems).toEqual([
      { path: 'tasks[0]', message: 'expected exactly one of "run", "handler" or "queue", got "run" and "queue"' },
    ]);
    expect(() => sequence('s').then('a', fn, { queue: 'no spaces' }).build()).toThrow(/expected a queue name/);
  });
});
