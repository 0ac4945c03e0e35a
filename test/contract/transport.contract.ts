// One conformance suite for every Transport adapter: memory (embedded) and Kafka run the same tests.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/core/protocol/envelope.js';
import type { BatchHandler, ConsumedMessage, Subscription, TopicMessage, Transport } from '../../src/ports/transport.js';

/** What a suite run needs from an adapter. */
export interface TransportFixture {
  readonly transport: Transport;
  /** Creates a fresh topic with the given partition count and returns its name. */
  topic(partitions: number): Promise<string>;
  /** How long to wait for deliveries (Kafka needs group joins and rebalances). */
  readonly patienceMs: number;
  close(): Promise<void>;
}

/** A run-start envelope: the smallest valid message, with a sequence number in its input. */
export function message(topic: string, key: string, n: number): TopicMessage {
  const value: Envelope = {
    v: 1,
    id: randomUUID(),
    runId: key,
    time: new Date().toISOString(),
    type: 'run.start',
    payload: { sequence: 's', input: { n } },
  };
  return { topic, key, value };
}

export const numberOf = (m: ConsumedMessage): number =>
  ((m.value as Extract<Envelope, { type: 'run.start' }>).payload.input as { n: number }).n;

/** Polls until `check` passes or time runs out. */
export async function eventually(check: () => void, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Subscribes and resolves once the member owns partitions (its first assignment). */
async function member(
  transport: Transport,
  topic: string,
  group: string,
  handler: BatchHandler,
  extra: { onRevoked?: (p: readonly number[]) => Promise<void>; delivery?: 'exactly-once' | 'at-least-once' } = {},
) {
  const owned = new Set<number>();
  let assigned!: () => void;
  const ready = new Promise<void>((resolve) => (assigned = resolve));
  const subscription: Subscription = await transport.subscribe(
    {
      topic,
      group,
      ...extra,
      onAssigned: async (partitions) => {
        for (const p of partitions) owned.add(p);
        if (owned.size > 0) assigned();
      },
      onRevoked: async (partitions) => {
        for (const p of partitions) owned.delete(p);
        await extra.onRevoked?.(partitions);
      },
    },
    handler,
  );
  return { subscription, owned, ready };
}

export function transportContract(name: string, create: () => Promise<TransportFixture>): void {
  describe(`Transport contract: ${name}`, () => {
    let fixture: TransportFixture;
    const fx = async () => (fixture ??= await create());
    afterAll(async () => {
      await fixture?.close();
    });

    it('delivers the messages of one key in the order they were published', async () => {
      const { transport, topic: makeTopic, patienceMs } = await fx();
      const topic = await makeTopic(3);
      const seen = new Map<string, number[]>();
      const m = await member(transport, topic, `g-${randomUUID()}`, async (batch) => {
        for (const c of batch) seen.set(c.key!, [...(seen.get(c.key!) ?? []), numberOf(c)]);
        return [];
      });
      await m.ready;
      const keys = ['a', 'b', 'c', 'd', 'e'].map((k) => `${k}-${randomUUID()}`);
      for (let round = 0; round < 4; round++) {
        await Promise.all(keys.map((k) => transport.publish(Array.from({ length: 10 }, (_, i) => message(topic, k, round * 10 + i)))));
      }
      await eventually(() => expect([...seen.values()].flat()).toHaveLength(keys.length * 40), patienceMs);
      for (const k of keys) expect(seen.get(k)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      await m.subscription.close();
    });

    it('publishes what the batch handler returns', async () => {
      const { transport, topic: makeTopic, patienceMs } = await fx();
      const [input, output] = [await makeTopic(2), await makeTopic(2)];
      const relay = await member(transport, input, `relay-${randomUUID()}`, async (batch) =>
        batch.map((c) => message(output, c.key!, numberOf(c) * 2)),
      );
      const got: number[] = [];
      const sink = await member(transport, output, `sink-${randomUUID()}`, async (batch) => {
        got.push(...batch.map(numberOf));
        return [];
      });
      await Promise.all([relay.ready, sink.ready]);
      await transport.publish(Array.from({ length: 20 }, (_, i) => message(input, `k${i % 4}`, i)));
      await eventually(() => expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i * 2)), patienceMs);
      await Promise.all([relay.subscription.close(), sink.subscription.close()]);
    });

    it('delivers a batch again when its handler throws, and publishes nothing from the failed attempt', async () => {
      const { transport, topic: makeTopic, patienceMs } = await fx();
      const [input, output] = [await makeTopic(1), await makeTopic(1)];
      const deliveries = new Map<number, number>();
      let failures = 0;
      const m = await member(transport, input, `retry-${randomUUID()}`, async (batch) => {
        for (const c of batch) deliveries.set(numberOf(c), (deliveries.get(numberOf(c)) ?? 0) + 1);
        const out = batch.map((c) => message(output, c.key!, numberOf(c)));
        if (batch.some((c) => numberOf(c) === 3) && failures < 2) {
          failures++;
          throw new Error('handler failure');
        }
        return out;
      });
      const got: number[] = [];
      const sink = await member(transport, output, `retry-sink-${randomUUID()}`, async (batch) => {
        got.push(...batch.map(numberOf));
        return [];
      });
      await Promise.all([m.ready, sink.ready]);
      await transport.publish(Array.from({ length: 6 }, (_, i) => message(input, 'one-key', i)));
      await eventually(() => expect(got.length).toBeGreaterThanOrEqual(6), patienceMs);
      expect(failures).toBe(2);
      expect(deliveries.get(3)).toBe(3);
      await new Promise((r) => setTimeout(r, 200));
      // Each message's output was published once: the failed attempts published nothing.
      expect([...got].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
      await Promise.all([m.subscription.close(), sink.subscription.close()]);
    });

    it('splits the work of a group between its members, and gives every group all messages', async () => {
      const { transport, topic: makeTopic, patienceMs } = await fx();
      const topic = await makeTopic(4);
      const group = `split-${randomUUID()}`;
      const seen: Array<Map<string, number>> = [new Map(), new Map(), new Map()];
      const handler =
        (i: number): BatchHandler =>
        async (batch) => {
          for (const c of batch) seen[i]!.set(c.key!, (seen[i]!.get(c.key!) ?? 0) + 1);
          return [];
        };
      const a = await member(transport, topic, group, handler(0));
      await a.ready;
      const b = await member(transport, topic, group, handler(1));
      const other = await member(transport, topic, `other-${randomUUID()}`, handler(2));
      await Promise.all([b.ready, other.ready]);
      // Both members of the group own partitions once the rebalance is over.
      await eventually(() => {
        expect(a.owned.size).toBeGreaterThan(0);
        expect(b.owned.size).toBeGreaterThan(0);
      }, patienceMs);
      const keys = Array.from({ length: 40 }, (_, i) => `key-${i}-${randomUUID()}`);
      await transport.publish(keys.map((k, i) => message(topic, k, i)));
      await eventually(() => {
        expect(seen[0]!.size + seen[1]!.size).toBe(keys.length);
        expect(seen[2]!.size).toBe(keys.length);
      }, patienceMs);
      expect(seen[0]!.size).toBeGreaterThan(0);
      expect(seen[1]!.size).toBeGreaterThan(0);
      for (const k of keys) expect(seen[0]!.has(k) !== seen[1]!.has(k)).toBe(true);
      await Promise.all([a.subscription.close(), b.subscription.close(), other.subscription.close()]);
    });

    it('stops delivering to a closed member and hands its work to the rest of the group', async () => {
      const { transport, topic: makeTopic, patienceMs } = await fx();
      const topic = await makeTopic(2);
      const group = `close-${randomUUID()}`;
      const toA: number[] = [];
      const toB: number[] = [];
      const a = await member(transport, topic, group, async (batch) => (toA.push(...batch.map(numberOf)), []));
      await a.ready;
      await transport.publish([message(topic, 'x', 0)]);
      await eventually(() => expect(toA).toEqual([0]), patienceMs);
      const b = await member(transport, topic, group, async (batch) => (toB.push(...batch.map(numberOf)), []));
      await a.subscription.close();
      await b.ready;
      await transport.publish(Array.from({ length: 10 }, (_, i) => message(topic, `k${i}`, i + 1)));
      await eventually(() => expect([...toB].sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1)), patienceMs);
      expect(toA).toEqual([0]);
      await b.subscription.close();
    });

    it('redelivers a deferred message that was never completed, and publishes what completes one', async () => {
      const { transport, topic: makeTopic, patienceMs } = await fx();
      const [topic, output] = [await makeTopic(1), await makeTopic(1)];
      const group = `defer-${randomUUID()}`;
      const completes = new Map<number, (m: readonly TopicMessage[]) => Promise<void>>();
      const first = await member(
        transport,
        topic,
        group,
        async (batch, context) => {
          for (const c of batch) completes.set(numberOf(c), context.defer(c));
          return [];
        },
        { delivery: 'at-least-once' },
      );
      await first.ready;
      await transport.publish([message(topic, 'k', 1), message(topic, 'k', 2)]);
      await eventually(() => expect([...completes.keys()]).toEqual([1, 2]), patienceMs);
      const got: number[] = [];
      const sink = await member(transport, output, `defer-sink-${randomUUID()}`, async (batch) => (got.push(...batch.map(numberOf)), []));
      await sink.ready;
      await completes.get(1)!([message(output, 'k', 10)]);
      await eventually(() => expect(got).toEqual([10]), patienceMs);
      // Message 2 is still running when its member closes: it is delivered to the next member of the group.
      await first.subscription.close();
      const again: number[] = [];
      const second = await member(transport, topic, group, async (batch) => (again.push(...batch.map(numberOf)), []), {
        delivery: 'at-least-once',
      });
      await second.ready;
      await eventually(() => expect(again).toContain(2), patienceMs);
      expect(again).not.toContain(1);
      await Promise.all([second.subscription.close(), sink.subscription.close()]);
    });

    it('closes', async () => {
      const { transport, topic: makeTopic } = await fx();
      const topic = await makeTopic(1);
      const m = await member(transport, topic, `closing-${randomUUID()}`, async () => []);
      await m.ready;
      await m.subscription.close();
      await expect(m.subscription.close()).resolves.toBeUndefined();
    });
  });
}
