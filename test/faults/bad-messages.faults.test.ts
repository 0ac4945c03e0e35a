// Malformed, oversized and unknown-version messages on the events topic, keyed by runs in flight so they land in
// busy partitions: each one is dead-lettered once with its reason, and every run still finishes.
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import type { DeadLetter } from '../../src/core/protocol/envelope.js';
import { Deployment, recordedSequence } from './support/deployment.js';
import { completions, EventsProducer, sha256 } from './support/raw-events.js';
import { RUNS, recordScenario } from './support/report.js';
import { seededRandom, sleep } from './support/seeded-random.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
/** Just under the events topic's max.message.bytes (1,048,588 by default), which the broker enforces. */
const OVERSIZED_BYTES = 1_040_000;
const WAVES = 5;

const d = new Deployment({ brokers: BROKERS, sequences: { 'bad.yaml': recordedSequence('bad', 5, 'sleep 0.1') } });
let producer: EventsProducer | undefined;
afterAll(async () => {
  await producer?.close().catch(() => {});
  await d.stop();
}, 60_000);

type Kind = 'not-json' | 'wrong-shape' | 'unknown-version' | 'too-deep' | 'oversized-text';
/** What each kind's dead-letter reason says. */
const REASONS: Record<Kind, RegExp> = {
  'not-json': /not JSON/,
  'wrong-shape': /not a lockstep message/,
  'unknown-version': /\bv\b/,
  'too-deep': /nested deeper than 1010 levels/,
  'oversized-text': /not JSON/,
};

function badMessage(kind: Kind, runId: string, real: Record<string, unknown> | undefined): string {
  switch (kind) {
    case 'not-json':
      return `{"v":1,"type":"task.succeeded","runId":"${runId}",`;
    case 'wrong-shape':
      return JSON.stringify({ v: 1, type: 'task.succeeded', runId, taskId: 't1', payload: 'done' });
    case 'unknown-version':
      return JSON.stringify({
        ...(real ?? { type: 'task.succeeded', runId, taskId: 't1', attempt: 1, payload: {} }),
        v: 99,
        id: randomUUID(),
      });
    case 'too-deep': {
      // Over lockstep's nesting limit, and close to the topic's size limit: refused before it is parsed.
      const depth = Math.floor(OVERSIZED_BYTES / 2);
      return `${'['.repeat(depth)}${']'.repeat(depth)}`;
    }
    case 'oversized-text':
      return `${'x'.repeat(OVERSIZED_BYTES - 1)}}`;
  }
}

it(`bad-messages: malformed, oversized and v99 messages under ${RUNS} runs are dead-lettered, nothing lost`, async () => {
  const random = seededRandom('bad-messages');
  const t0 = Date.now();
  await d.setUp();
  await d.addOrchestrator();
  await Promise.all([d.addWorker(), d.addWorker()]);
  producer = await EventsProducer.connect(d);
  let runIds: string[] = [];
  const starting = d.startRuns(RUNS, 'bad').then((ids) => (runIds = ids));
  const sent = new Map<string, { kind: Kind; bytes: number }>();
  const kinds = Object.keys(REASONS) as Kind[];
  for (let w = 0; w < WAVES; w++) {
    await sleep(random.int(300, 2_000));
    const real = completions(d);
    const inFlight = [...d.states.values()].filter((s) => s.status === 'running');
    for (const kind of random.shuffle(kinds)) {
      const run = inFlight[random.int(0, inFlight.length - 1)]?.runId ?? randomUUID();
      const copy = real.filter((e) => e.runId === run).at(-1) ?? real.at(-1);
      const value = badMessage(kind, run, copy as Record<string, unknown> | undefined);
      await producer.send([{ key: run, value }]);
      sent.set(sha256(value), { kind, bytes: Buffer.byteLength(value) });
    }
  }
  await starting;
  await d.waitEnded(runIds, 180_000);
  expect(runIds.filter((id) => d.states.get(id)?.status !== 'succeeded')).toEqual([]);

  // Every bad message is dead-lettered, once, with its reason; the big ones cut to 16 KiB with their whole size.
  const letters = () => d.of(d.topics.deadLetter).map((r) => JSON.parse(r.value!) as DeadLetter);
  const ours = () => letters().filter((l) => sent.has(l.rawSha256));
  await expect.poll(() => new Set(ours().map((l) => l.rawSha256)).size, { timeout: 20_000 }).toBe(sent.size);
  const counts = new Map<string, number>();
  for (const l of ours()) {
    counts.set(l.rawSha256, (counts.get(l.rawSha256) ?? 0) + 1);
    const { kind, bytes } = sent.get(l.rawSha256)!;
    expect(l.reason, `${kind}: ${l.reason}`).toMatch(REASONS[kind]);
    expect(l.source.topic).toBe(d.topics.events);
    expect(l.rawBytes).toBe(bytes);
    expect(l.rawTruncated).toBe(bytes > 16 * 1024);
  }
  // Identical texts (the two oversized kinds repeat across waves) share a hash: one letter per message sent.
  expect(ours().length).toBe(WAVES * kinds.length);
  expect(letters().length - ours().length).toBe(0);

  const report = d.check(runIds);
  const row = d.row('bad-messages', runIds, report, {
    recoveryMs: null,
    seconds: Math.round((Date.now() - t0) / 1000),
    notes: `${WAVES * kinds.length} bad messages in ${WAVES} waves (seed ${random.seed}), keyed by runs in flight: not JSON, JSON of the wrong shape, v: 99, ${OVERSIZED_BYTES.toLocaleString('en')}-byte texts (nested past 1,010 levels; not JSON), each dead-lettered once with its reason`,
  });
  recordScenario(row);
  expect(row.lostRuns).toBe(0);
  expect(row.orderViolations).toBe(0);
  expect(row.duplicateAdvancements).toBe(0);
  expect(row.duplicateDispatches).toBe(0);
}, 600_000);
