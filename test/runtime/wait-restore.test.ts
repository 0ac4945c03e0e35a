// A wait's timers survive the run-state record that Kafka orchestrators restore runs from: the delay's due time
// (relative or absolute), the signal wait's timeout, each as first recorded, and the restored run steps on.
import { describe, expect, it } from 'vitest';
import type { RunState } from '../../src/core/protocol/run-state.js';
import { advance, beginRun } from '../../src/core/run/live-run.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { restoreRunRecord } from '../../src/core/run/restore-run.js';
import { signalEvent } from '../../src/core/run/signal.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { runStateOf } from '../../src/runtime/journals/kafka/run-state-topic.js';

const T0 = Date.parse('2026-12-04T10:00:00Z');
const UNTIL = '2026-12-24T09:00:00Z';
const text = (wait: string, extra = '') =>
  `name: w\nversion: 1\ntasks:\n  - id: a\n    run: ":"\n  - id: hold\n    wait: ${wait}\n${extra}  - id: b\n    run: ":"\n`;

function waitingRecord(definition: string, input?: unknown) {
  const registry = new ProgramRegistry();
  const { program } = registry.register(loadSequenceText(definition), { definition, hash: 'h' });
  const { run } = beginRun(program, { runId: 'r1', at: T0, ...(input === undefined ? {} : { input }) });
  advance(run, { type: 'TASK_SUCCEEDED', taskId: 'a', attempt: 1 }, T0 + 10);
  const raw = JSON.stringify(runStateOf(run, { definitionHash: 'h' }, T0 + 10));
  return { registry, raw, timers: Object.fromEntries(run.timers) };
}

const restored = (registry: ProgramRegistry, raw: string) => {
  const r = restoreRunRecord(registry, raw);
  if (!r.ok) throw new Error(r.reason);
  return r.run;
};

describe('a wait restored from its run-state record', () => {
  it('keeps a delay due when it was, and succeeds when it fires', () => {
    const { registry, raw, timers } = waitingRecord(text('{ duration: 2h }'));
    expect(timers).toEqual({ 'wait:hold:1': T0 + 10 + 7_200_000 });
    const run = restored(registry, raw);
    expect(Object.fromEntries(run.timers)).toEqual(timers);
    const step = advance(run, { type: 'TIMER_FIRED', timerId: 'wait:hold:1' }, T0 + 99 * 3_600_000);
    expect(step.entries.map((e) => e.type)).toEqual(['task.succeeded', 'task.started']);
    expect(step.commands.some((c) => c.type === 'dispatch' && c.taskId === 'b')).toBe(true);
  });

  it('keeps an absolute due time (wait.until from the input)', () => {
    const { registry, raw, timers } = waitingRecord(text('{ until: input.remindAt }'), { remindAt: UNTIL });
    expect(timers).toEqual({ 'wait:hold:1': Date.parse(UNTIL) });
    expect(Object.fromEntries(restored(registry, raw).timers)).toEqual(timers);
  });

  it("keeps a signal wait's timeout, and applies a signal after the restore", () => {
    const { registry, raw, timers } = waitingRecord(text('{ signal: true }', '    timeout: 48h\n'));
    expect(timers).toEqual({ 'timeout:hold:1': T0 + 10 + 48 * 3_600_000 });
    const run = restored(registry, raw);
    expect(Object.fromEntries(run.timers)).toEqual(timers);
    const step = advance(run, signalEvent(run.snapshot.context, { taskId: 'hold', data: { ok: true } }), T0 + 20);
    expect(step.entries[0]).toMatchObject({ type: 'task.succeeded', task: 'hold' });
    expect(run.snapshot.context.results.hold).toEqual({ ok: true });
  });

  it("refuses a delay's record that lost its due time: the run would wait for ever", () => {
    const { registry, raw } = waitingRecord(text('{ duration: 2h }'));
    const state = JSON.parse(raw) as RunState;
    const r = restoreRunRecord(registry, JSON.stringify({ ...state, timers: {} }));
    expect(r.ok ? 'restored' : r.reason).toBe('timers: expected the wait timer "wait:hold:1" in state "main.hold.running", got none');
  });
});
