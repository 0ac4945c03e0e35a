// Pinned definitions against the real broker: a run in flight finishes under the exact definition it started
// with, after its file changed under the same version and every orchestrator and worker restarted.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { sha256Hex } from '../../src/core/hash.js';
import { parseDefinitionRecord } from '../../src/core/protocol/definition-record.js';
import type { DeadLetter } from '../../src/core/protocol/envelope.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createShellWorker, loadSequences, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { kafkaExecutor } from '../../src/modes/kafka/worker-executors.js';
import type { DispatchedTask } from '../../src/runtime/worker.js';
import { rawAdmin } from '../support/raw-kafka.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-pinned-definitions-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };

// `gate` waits for a file, so the run is in flight while the file of its sequence changes.
const gate = 'while [ ! -f "$(echo "$LOCKSTEP_INPUT" | sed \'s/.*"gate":"\\([^"]*\\)".*/\\1/\')" ]; do sleep 0.1; done';
const original = `name: pinned\nversion: 1\ntasks:\n  - id: first\n    run: echo '{"by":"original"}'\n  - id: gate\n    run: ${JSON.stringify(gate)}\n  - id: last\n    run: echo '{"by":"original"}'\n`;
const edited = `name: pinned\nversion: 1\ntasks:\n  - id: first\n    run: echo '{"by":"edited"}'\n  - id: gate\n    run: ${JSON.stringify(gate)}\n  - id: other\n    run: echo '{"by":"edited"}'\n`;
const results = (state: RunState) => (state.snapshot.context as { results: Record<string, unknown> }).results;

describe('pinned definitions in Kafka mode', () => {
  const prefix = `pin-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(scratch, 'pinned-'));
  const file = join(dir, 'pinned.yaml');
  const open: Array<KafkaOrchestrator | KafkaWorker | LockstepClient> = [];
  const track = <T extends KafkaOrchestrator | KafkaWorker | LockstepClient>(c: T): T => (open.push(c), c);
  const stop = async (c: KafkaOrchestrator | KafkaWorker) => {
    open.splice(open.indexOf(c), 1);
    await ('inFlight' in c ? c.close({ handBack: true }) : c.close());
  };
  let running: { orchestrator: KafkaOrchestrator; worker: KafkaWorker } | undefined;
  /** What `lockstep orchestrator --sequences dir` and `lockstep worker --sequences dir` start. */
  const roles = async () => {
    const registry = loadSequences(dir);
    const orchestrator = track(await startKafkaOrchestrator({ ...base, prefix, registry, partitions: 2 }));
    const worker = track(await createShellWorker({ ...base, prefix, registry, queue: 'default' }));
    running = { orchestrator, worker };
    return running;
  };

  afterAll(async () => {
    for (const c of open.reverse()) await ('inFlight' in c ? c.close({ handBack: true }) : c.close()).catch(() => {});
  });

  it('finishes a run in flight under its original definition after the file changed under the same version', async () => {
    writeFileSync(file, original);
    const first = await roles();
    const client = track(createLockstepClient({ ...base, prefix }));
    const gateFile = join(dir, 'open');
    const inFlight = await client.start('pinned', { input: { gate: gateFile } });
    await expect.poll(() => client.status(inFlight).then((s) => s?.currentTask), { timeout: 30_000 }).toBe('gate');
    expect((await client.status(inFlight))?.definitionHash).toBe(sha256Hex(original));

    // Same version, other tasks; every orchestrator and worker restarts with the edited file only.
    writeFileSync(file, edited);
    await stop(first.worker);
    await stop(first.orchestrator);
    const second = await roles();
    writeFileSync(gateFile, '');

    const finished = await client.wait(inFlight, { timeoutMs: 60_000 });
    expect(finished.status).toBe('succeeded');
    expect(finished.definitionHash).toBe(sha256Hex(original));
    expect(results(finished)).toEqual({ first: { by: 'original' }, last: { by: 'original' } });
    expect(second.orchestrator.orchestrator.stats.restored).toBe(1);

    const fresh = await client.start('pinned', { input: { gate: gateFile } });
    const next = await client.wait(fresh, { timeoutMs: 60_000 });
    expect(next.status).toBe('succeeded');
    expect(next.definitionHash).toBe(sha256Hex(edited));
    expect(results(next)).toEqual({ first: { by: 'edited' }, other: { by: 'edited' } });
  });

  it('keeps one record per definition on the compacted definitions topic, keyed by its hash', async () => {
    const transport = new KafkaTransport(base);
    try {
      const records = await transport.readPartitions(topicNames(prefix).definitions, [0]);
      const byKey = new Map(records.map((r) => [r.key, parseDefinitionRecord(r.value!)]));
      expect([...byKey.keys()].sort()).toEqual([sha256Hex(original), sha256Hex(edited)].sort());
      expect(byKey.get(sha256Hex(original))).toEqual({
        success: true,
        record: {
          v: 1,
          type: 'sequence.definition',
          hash: sha256Hex(original),
          sequence: 'pinned',
          version: '1',
          definition: original,
          source: file,
        },
      });
    } finally {
      await transport.close();
    }
  });

  it('dead-letters a run whose definition is nowhere, naming its hash', async () => {
    const client = track(createLockstepClient({ ...base, prefix }));
    const runId = await client.start('pinned', { input: { gate: join(dir, 'never') } });
    await expect.poll(() => client.status(runId).then((s) => s?.currentTask), { timeout: 30_000 }).toBe('gate');
    await stop(running!.worker);
    await stop(running!.orchestrator);
    // The run's state as if it had started under a definition no orchestrator ever published.
    const unknown = 'e'.repeat(64);
    const transport = new KafkaTransport(base);
    try {
      const state = (await client.status(runId))!;
      await transport.publish([{ topic: topicNames(prefix).runs, key: runId, value: { ...state, definitionHash: unknown } }]);
      const orchestrator = track(await startKafkaOrchestrator({ ...base, prefix, registry: loadSequences(dir) }));
      const reason = `run.state record of run ${runId} cannot be restored: run ${runId}: definitionHash: definition sha256:${unknown} of sequence "pinned" version 1 is unknown: not registered here, and not found where definitions are published`;
      await expect
        .poll(
          async () => {
            const letters = await transport.readPartitions(topicNames(prefix).deadLetter, [0, 1]);
            return letters.map((l) => (JSON.parse(l.value!) as DeadLetter).reason);
          },
          { timeout: 30_000, interval: 500 },
        )
        .toContain(reason);
      expect(orchestrator.orchestrator.stats.restoreFailed).toBe(1);
    } finally {
      await transport.close();
    }
  });

  it('creates the definitions topic alongside topics made before it existed', async () => {
    const older = `pin-${randomUUID().slice(0, 8)}`;
    const names = topicNames(older);
    const transport = new KafkaTransport(base);
    try {
      const admin = await rawAdmin(brokers);
      await admin
        .createTopics({
          waitForLeaders: true,
          topics: [names.events, names.runs, names.deadLetter, names.commands('default')].map((topic) => ({ topic, numPartitions: 2 })),
        })
        .finally(() => admin.disconnect());
      const orchestrator = track(await startKafkaOrchestrator({ ...base, prefix: older, registry: loadSequences(dir) }));
      // Older layouts lack the history topic too: those two are the only topics an orchestrator creates.
      expect(orchestrator.topics.created).toEqual([names.history, names.definitions]);
      expect((await transport.partitionCounts([names.definitions])).get(names.definitions)).toBe(1);
      expect((await transport.readPartitions(names.definitions, [0])).map((r) => r.key)).toEqual([sha256Hex(edited)]);
    } finally {
      await transport.close();
    }
  });

  it('fails a dispatch whose definition a worker finds nowhere, without retrying it', async () => {
    const transport = new KafkaTransport(base);
    try {
      const execute = kafkaExecutor({ transport, prefix, registry: new ProgramRegistry() });
      const task = {
        v: 1,
        type: 'task.dispatch',
        id: randomUUID(),
        runId: 'r',
        taskId: 'first',
        attempt: 1,
        time: new Date().toISOString(),
        payload: {
          sequence: 'pinned',
          version: '1',
          definitionHash: 'd'.repeat(64),
          phase: 'main',
          idempotencyKey: 'r:first:1',
          queue: 'default',
          input: null,
          results: {},
        },
      } as DispatchedTask;
      await expect(execute(task, () => new AbortController().signal)).rejects.toMatchObject({
        retriable: false,
        message: `definition sha256:${'d'.repeat(64)} of sequence "pinned" version 1 is unknown: not registered here, and not found where definitions are published`,
      });
      // The original is on the topic: a worker that never had the file runs its task.
      const pinned = { ...task, payload: { ...task.payload, definitionHash: sha256Hex(original) } } as DispatchedTask;
      await expect(execute(pinned, () => new AbortController().signal)).resolves.toEqual({ by: 'original' });
    } finally {
      await transport.close();
    }
  });
});
