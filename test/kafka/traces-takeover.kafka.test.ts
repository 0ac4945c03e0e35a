// A traced run survives a change of orchestrator: the one that takes the run over (from the run-state topic)
// puts its attempt spans under the root the run started with, and ends that root.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { SpanDescription, TracedRun } from '../../src/core/trace/run-spans.js';
import { RunSpans } from '../../src/core/trace/run-spans.js';
import { definitionText } from '../../src/modes/embedded/embedded-runtime.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import type { RunTracer } from '../../src/ports/run-tracer.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** A tracer over the pure span builder that keeps the spans it made. */
class CollectingTracer implements RunTracer {
  readonly spans: SpanDescription[] = [];
  readonly #spans = new RunSpans();
  entry(entry: RunEntry, run: TracedRun): void {
    this.spans.push(...this.#spans.take(entry, run));
  }
  async close(): Promise<void> {}
}

const retrying = sequence('traced-retrying')
  .then('flaky', { queue: 'q' }, { retry: { maxAttempts: 2, backoff: { initial: '1500ms', factor: 1 } } })
  .build();

describe('traces across an orchestrator takeover (Kafka)', () => {
  const prefix = `tr-${randomUUID().slice(0, 8)}`;
  const closers: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c.close().catch(() => {});
  });

  it('the second orchestrator parents its attempt spans under the same root, which it ends', async () => {
    const registry = new ProgramRegistry();
    registry.register(retrying, { definition: definitionText(retrying), hash: sha256Hex(definitionText(retrying)) });
    const seen = new Map<number, string | undefined>();
    const first = new CollectingTracer();
    const a = await startKafkaOrchestrator({ ...base, prefix, registry, partitions: 1, tracer: first });
    // The orchestrator creates the topics; the worker subscribes to them.
    const worker = await createWorker({
      ...base,
      prefix,
      queue: 'q',
      handlers: {
        flaky: (ctx) => {
          seen.set(ctx.attempt, ctx.traceparent);
          if (ctx.attempt < 2) throw new Error('transient');
          return 'ok';
        },
      },
    });
    closers.push(worker);
    const client = createLockstepClient({ ...base, prefix });
    closers.push(client);
    const runId = await client.start('traced-retrying', { traceparent: TRACEPARENT });
    await expect.poll(() => client.status(runId).then((s) => Object.keys(s?.timers ?? {})), { timeout: 20_000 }).toContain('retry:flaky:1');
    await a.close();
    const second = new CollectingTracer();
    const b = await startKafkaOrchestrator({ ...base, prefix, registry, partitions: 1, tracer: second });
    closers.push(b);
    const final = await client.wait(runId, { timeoutMs: 30_000 });
    expect(final.status).toBe('succeeded');
    expect(final.traceparent).toBe(TRACEPARENT);

    expect(first.spans.map((s) => s.name)).toEqual(['task flaky']);
    const attempt1 = first.spans[0]!;
    expect(second.spans.map((s) => s.name)).toEqual(['task flaky', 'run traced-retrying']);
    const [attempt2, root] = second.spans as [SpanDescription, SpanDescription];
    expect(root).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7', startMs: final.createdAt });
    expect(attempt1.parentSpanId).toBe(root.spanId);
    expect(attempt2.parentSpanId).toBe(root.spanId);
    expect([attempt1.traceId, attempt2.traceId]).toEqual([root.traceId, root.traceId]);
    expect(attempt1.events.map((e) => e.name)).toEqual(['retry scheduled']);
    // Each attempt's handler saw its own span, whichever orchestrator dispatched it.
    expect(seen.get(1)).toBe(`00-${root.traceId}-${attempt1.spanId}-01`);
    expect(seen.get(2)).toBe(`00-${root.traceId}-${attempt2.spanId}-01`);
  });
});
