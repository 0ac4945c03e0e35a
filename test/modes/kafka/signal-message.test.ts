import { describe, expect, it } from 'vitest';
import { EnvelopeSchema } from '../../../src/core/protocol/envelope.js';
import { NO_FACTS } from '../../../src/core/run/run-facts.js';
import { loadSequenceText } from '../../../src/core/sequence/validate.js';
import { createProgram } from '../../../src/core/step.js';
import { assertSignalable, signalMessage } from '../../../src/modes/kafka/signal-message.js';

const program = createProgram(
  loadSequenceText(`name: s
tasks:
  - id: approve
    wait: { signal: true, schema: { type: object, properties: { by: { type: string } }, required: [by] } }
    timeout: 1h
  - id: next
    run: ":"
`),
);
const view = (current: { taskId: string; attempt: number } | null, completed: string[] = []) => ({
  ...NO_FACTS,
  current: current && { ...current, phase: 'main' as const },
  attempts: { approve: 1, ...(current ? { [current.taskId]: current.attempt } : {}) },
  completed,
  continued: [],
});
const refusal = (target: Parameters<typeof assertSignalable>[0], signal: Parameters<typeof assertSignalable>[1]) => {
  try {
    assertSignalable(target, signal);
    return 'accepted';
  } catch (error) {
    return `${(error as { code: string }).code}: ${(error as Error).message}`;
  }
};

describe('a signal checked before it is published', () => {
  const waiting = { runId: 'r1', status: 'running', view: view({ taskId: 'approve', attempt: 1 }), program };

  it('with the run’s definition: every problem of the data, then where the run stands', () => {
    expect(refusal(waiting, { taskId: 'approve', data: { by: 'ana' } })).toBe('accepted');
    expect(refusal(waiting, { taskId: 'approve', data: {} })).toMatch(/^INVALID_SIGNAL: invalid signal: nothing was recorded\n.*data\.by/);
    expect(refusal({ ...waiting, status: 'succeeded' }, { taskId: 'approve', reject: 'no' })).toBe(
      'RUN_ENDED: run r1 already ended: succeeded',
    );
    // A wait that has ended: accepted, for the run to ignore as a duplicate.
    expect(refusal({ ...waiting, view: view({ taskId: 'next', attempt: 1 }, ['approve']) }, { taskId: 'approve', reject: 'no' })).toBe(
      'accepted',
    );
  });

  it('without it: what the run state alone tells', () => {
    const unknown = { ...waiting, program: undefined };
    // The data is checked by the orchestrator, which dead-letters a bad one.
    expect(refusal(unknown, { taskId: 'approve', data: {} })).toBe('accepted');
    expect(refusal(unknown, { taskId: 'approve', reject: ' ' })).toMatch(/^INVALID_SIGNAL: .*\nreject: expected a reason/);
    expect(refusal(unknown, { taskId: 'approve', reject: 'no', data: 1 })).toMatch(/^INVALID_SIGNAL: .*\ndata: a rejection carries/);
    expect(refusal({ ...unknown, status: 'failed' }, { taskId: 'approve', data: {} })).toBe('RUN_ENDED: run r1 already ended: failed');
    expect(refusal({ ...unknown, view: view(null) }, { taskId: 'later', data: {} })).toBe(
      'NOT_WAITING: run r1 is not waiting for later yet: nothing was recorded',
    );
  });

  it('goes out as the task.signal of schemas/task.signal.json, keyed by nothing but the run id it names', () => {
    const data = signalMessage('r1', { taskId: 'approve', data: { by: 'ana' } }, Date.parse('2026-12-04T10:00:00Z'));
    expect(EnvelopeSchema.parse(data)).toMatchObject({
      v: 1,
      type: 'task.signal',
      runId: 'r1',
      taskId: 'approve',
      payload: { data: { by: 'ana' } },
    });
    expect(signalMessage('r1', { taskId: 'approve', reject: 'no' }, 0)).toMatchObject({
      payload: { reject: 'no' },
      time: '1970-01-01T00:00:00.000Z',
    });
    expect(() => signalMessage('__lockstep.x', { taskId: 'approve' }, 0)).toThrow(/reserved/);
  });
});
