import { describe, expect, it } from 'vitest';
import { DefinitionError } from '../../../src/core/errors.js';
import type { WaitOptions } from '../../../src/core/sequence/builder.js';
import { sequence } from '../../../src/core/sequence/builder.js';
import { loadSequenceText } from '../../../src/core/sequence/validate.js';

const schema = { type: 'object', properties: { approver: { type: 'string', minLength: 1 } }, required: ['approver'] };

/** The problems `build()` reports, as `path: message`. */
function problemsOf(build: () => unknown): string[] {
  try {
    build();
  } catch (error) {
    if (error instanceof DefinitionError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('SequenceBuilder.wait', () => {
  it('builds the same waits as the file format', () => {
    const built = sequence('approval')
      .then('build', { run: 'echo build' })
      .wait('approve', { signal: true, schema, timeout: '48h', onTimeout: 'continue', retry: { maxAttempts: 2 } })
      .wait('cool-off', { duration: '2h' })
      .wait('remind', { until: 'input.remindAt' })
      .wait('at', { until: new Date('2026-12-24T09:00:00Z') })
      .wait('forever', { signal: true, timeout: 'never', compensate: { run: 'echo undo' } })
      .build();
    const file = loadSequenceText(`
name: approval
tasks:
  - id: build
    run: echo build
  - id: approve
    wait: { signal: true, schema: ${JSON.stringify(schema)} }
    timeout: 48h
    onTimeout: continue
    retry: { maxAttempts: 2 }
  - id: cool-off
    wait: { duration: 2h }
  - id: remind
    wait: { until: input.remindAt }
  - id: at
    wait: { until: "2026-12-24T09:00:00Z" }
  - id: forever
    wait: { signal: true }
    timeout: never
    compensate: { run: echo undo }
`);
    expect(built).toEqual(file);
    expect(built.tasks[1]).toMatchObject({
      action: { kind: 'wait', wait: { for: 'signal', schema, onTimeout: 'continue' } },
      timeoutMs: 48 * 3_600_000,
    });
    expect(built.tasks[2]?.action).toEqual({ kind: 'wait', wait: { for: 'delay', delayMs: 2 * 3_600_000 } });
    expect(built.tasks[3]?.action).toEqual({ kind: 'wait', wait: { for: 'until', field: 'remindAt' } });
    expect(built.tasks[4]?.action).toEqual({ kind: 'wait', wait: { for: 'until', at: Date.parse('2026-12-24T09:00:00Z') } });
    expect(built.tasks[5]?.timeoutMs).toBeUndefined();
  });

  it('reports the problems a file would have, at the same paths', () => {
    const untyped = (options: unknown) => options as WaitOptions;
    expect(
      problemsOf(() =>
        sequence('s')
          .wait('a', untyped({ signal: true }))
          .build(),
      ),
    ).toEqual(['tasks[0].timeout: a signal wait must say how long it waits: a timeout like "48h", or "never" to wait for ever']);
    expect(
      problemsOf(() =>
        sequence('s')
          .then('first', async () => 1)
          .wait('a', untyped({ duration: '1h', timeout: '2h' }))
          .wait('b', untyped({ duration: '1h', until: 'input.at' }))
          .wait('c', { until: 'tomorrow' })
          .wait('d', { signal: true, timeout: '1h', schema: { type: 'nonsense' } })
          .build(),
      ),
    ).toEqual([
      'tasks[1].timeout: a delay ends by itself: "timeout" is not allowed with wait.duration',
      'tasks[2].wait: expected exactly one of "signal", "duration" or "until", got "duration" and "until"',
      expect.stringMatching(/^tasks\[3\]\.wait\.until: expected an ISO 8601 time with an offset/),
      expect.stringMatching(/^tasks\[4\]\.wait\.schema: expected a JSON Schema lockstep can check/),
    ]);
  });
});
