import { describe, expect, it } from 'vitest';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { beginRun, replay } from '../../src/core/run/live-run.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { restoreRunRecord } from '../../src/core/run/restore-run.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { SpanDescription, TracedRun } from '../../src/core/trace/run-spans.js';
import { RunSpans } from '../../src/core/trace/run-spans.js';
import { attemptSpanId, runTrace } from '../../src/core/trace/traceparent.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/index.js';
import type { RunTracer } from '../../src/ports/run-tracer.js';
import { runStateOf } from '../../src/runtime/journals/kafka/run-state-topic.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** A tracer over the pure span builder that keeps what it is handed. */
class CollectingTracer implements RunTracer {
  readonly entries: Array<{ entry: RunEntry; run: TracedRun }> = [];
  readonly spans: SpanDescription[] = [];
  readonly #spans = new RunSpans();
  entry(entry: RunEntry, run: TracedRun): void {
    this.entries.push({ entry, run });
    this.spans.push(...this.#spans.take(entry, run));
  }
  async close(): Promise<void> {}
}

/** A saga whose second task fails once (retried), and whose third fails for good: the first is compensated. */
function saga(seen: Map<string, string | undefined>) {
  let tries = 0;
  return sequence('saga', { version: 1 })
    .then('book', (ctx) => void seen.set(`book#${ctx.attempt}`, ctx.traceparent), {
      compensate: (ctx) => void seen.set(`unbook#${ctx.attempt}`, ctx.traceparent),
    })
    .then(
      'pay',
      (ctx) => {
        seen.set(`pay#${ctx.attempt}`, ctx.traceparent);
        if (++tries === 1) throw new Error('declined once');
      },
      { retry: { maxAttempts: 2, backoff: { initial: '10ms' } } },
    )
    .then('ship', () => {
      throw new Error('no truck');
    })
    .build();
}

describe('run traces from the orchestrator', () => {
  it('a root per run under the traceparent, a child per attempt, and each handler sees its own span', async () => {
    const seen = new Map<string, string | undefined>();
    const tracer = new CollectingTracer();
    const runtime = await createEmbeddedRuntime({ tracer });
    runtime.register(saga(seen));
    const final = await runtime.run({ sequence: 'saga', traceparent: TRACEPARENT });
    await runtime.close();
    expect(final.outcome).toBe('failed');
    const runId = final.runId;
    const trace = runTrace(runId, TRACEPARENT);
    const root = tracer.spans.find((s) => s.spanId === trace.rootSpanId)!;
    expect(root).toMatchObject({ parentSpanId: '00f067aa0ba902b7', name: 'run saga', status: { code: 'error' } });
    const children = tracer.spans.filter((s) => s !== root);
    expect(children.map((s) => `${s.name}#${s.attributes['lockstep.attempt']}`)).toEqual([
      'task book#1',
      'task pay#1',
      'task pay#2',
      'task ship#1',
      expect.stringMatching(/^compensate .+#1$/),
    ]);
    expect(children.every((s) => s.parentSpanId === root.spanId && s.traceId === trace.traceId)).toBe(true);
    expect(children[1]!.events).toEqual([
      { name: 'retry scheduled', atMs: expect.any(Number), attributes: { 'lockstep.retry.delay_ms': expect.any(Number) } },
    ]);
    expect(seen.get('pay#2')).toBe(`00-${trace.traceId}-${attemptSpanId(runId, 'main', 'pay', 2)}-01`);
    expect(seen.get('pay#2')).toBe(`00-${trace.traceId}-${children[2]!.spanId}-01`);
    // run.started keeps the traceparent, so replaying the history (a resume) finds it again.
    expect(tracer.entries[0]!.entry).toMatchObject({ type: 'run.started', traceparent: TRACEPARENT });
  });

  it('an orchestrator that takes a run over after a restart emits the same spans from the entries it records', async () => {
    const tracer = new CollectingTracer();
    const runtime = await createEmbeddedRuntime({ tracer });
    runtime.register(saga(new Map()));
    await runtime.run({ sequence: 'saga', traceparent: TRACEPARENT });
    await runtime.close();
    // The first process recorded up to the failure of `pay`'s first attempt, then stopped; the second records the rest.
    const cut = tracer.entries.findIndex(({ entry }) => entry.type === 'task.failed') + 1;
    const before = new RunSpans();
    const after = new RunSpans();
    const split = [
      ...tracer.entries.slice(0, cut).flatMap(({ entry, run }) => before.take(entry, run)),
      ...tracer.entries.slice(cut).flatMap(({ entry, run }) => after.take(entry, run)),
    ];
    expect(split).toEqual(tracer.spans);
  });

  it('without a tracer, a dispatch carries the traceparent the run started with, or none', async () => {
    const seen = new Map<string, string | undefined>();
    const runtime = await createEmbeddedRuntime({ tracer: false });
    runtime.register(saga(seen));
    await runtime.run({ sequence: 'saga', traceparent: TRACEPARENT });
    expect(seen.get('book#1')).toBe(TRACEPARENT);
    await runtime.run({ sequence: 'saga' });
    expect(seen.get('book#1')).toBeUndefined();
    await expect(runtime.start({ sequence: 'saga', traceparent: 'x' })).rejects.toThrow(/^traceparent: expected "00-/);
    await runtime.close();
  });

  it("a run's timeout and a cancel are events of the root, and the attempt they stop ends as stopped", async () => {
    const tracer = new CollectingTracer();
    const runtime = await createEmbeddedRuntime({ tracer });
    const hang = (ctx: { signal: AbortSignal }) =>
      new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped'))));
    runtime.register(sequence('late', { version: 1, timeout: '100ms' }).then('hang', hang).build());
    runtime.register(sequence('halted', { version: 1 }).then('hang', hang).build());
    const late = await runtime.run({ sequence: 'late' });
    const halted = await runtime.start({ sequence: 'halted' });
    await expect.poll(() => tracer.entries.some(({ entry }) => entry.runId === halted && entry.type === 'task.started')).toBe(true);
    await runtime.orchestrator.cancel(halted, 'operator said so');
    await runtime.orchestrator.waitFor(halted);
    await runtime.close();
    const of = (runId: string) => tracer.spans.filter((s) => s.attributes['lockstep.run.id'] === runId);
    const [lateTask, lateRoot] = of(late.runId);
    expect(lateRoot).toMatchObject({ name: 'run late', attributes: { 'lockstep.outcome': 'failed' }, status: { code: 'error' } });
    expect(lateRoot!.events.map((e) => e.name)).toEqual(['timeout']);
    expect(lateTask).toMatchObject({ name: 'task hang', attributes: { 'lockstep.outcome': 'stopped' }, status: { code: 'error' } });
    const [haltedTask, haltedRoot] = of(halted);
    expect(haltedRoot).toMatchObject({ attributes: { 'lockstep.outcome': 'cancelled' }, status: { code: 'unset' } });
    expect(haltedRoot!.events).toEqual([
      { name: 'cancel requested', atMs: expect.any(Number), attributes: { 'lockstep.reason': 'operator said so' } },
    ]);
    expect(haltedTask).toMatchObject({ attributes: { 'lockstep.outcome': 'stopped', 'lockstep.stop.how': 'reported' } });
  });

  it('the run state and the replayed history keep the traceparent', () => {
    const registry = new ProgramRegistry();
    const { program } = registry.register(saga(new Map()), { definition: '', hash: 'h' });
    const began = beginRun(program, { runId: 'r1', at: 1_000, traceparent: TRACEPARENT });
    expect(began.entries[0]).toMatchObject({ type: 'run.started', traceparent: TRACEPARENT });
    expect(replay(program, began.entries).traceparent).toBe(TRACEPARENT);
    const restored = restoreRunRecord(registry, JSON.stringify(runStateOf(began.run, {}, 1_000)));
    expect(restored.ok && restored.run.traceparent).toBe(TRACEPARENT);
    const untraced = beginRun(program, { runId: 'r2', at: 1_000 });
    expect(untraced.entries[0]).not.toHaveProperty('traceparent');
  });
});
