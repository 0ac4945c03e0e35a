// The whole log of runs off the real broker: runs of every example, driven by a real orchestrator and shell
// worker, read back with readHistoryLog (history, run-state, definitions and command topics) check clean under
// checkHistory and `lockstep check-history --brokers`; a history record written again is dropped, and one that
// disagrees with the first of its seq is counted as a conflict and fails the check.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { PROTOCOL_VERSION, topicNames } from '../../src/core/protocol/envelope.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import {
  createLockstepClient,
  createShellWorker,
  loadSequences,
  readHistoryLog,
  startKafkaOrchestrator,
} from '../../src/modes/kafka/index.js';
import { checkHistory } from '../../src/testing/history-checker.js';
import { lockstep, ROOT } from '../support/cli.js';

const brokers = inject('kafkaBrokers');
const prefix = `hlog-${randomUUID().slice(0, 8)}`;
const base = { brokers, prefix, logLevel: 'nothing' as const };
const registry = loadSequences(join(ROOT, 'machines'));
const NAMES = ['hello', 'compensation', 'continue-on-failure', 'cleanup-always', 'retry-backoff'];
const RUNS_EACH = 3;
const env = { KAFKA_BROKERS: '', LOCKSTEP_TOPIC_PREFIX: '' };

let orchestrator: KafkaOrchestrator;
let worker: KafkaWorker;
let client: LockstepClient;
const started: string[] = [];

beforeAll(async () => {
  orchestrator = await startKafkaOrchestrator({ ...base, registry, partitions: 3 });
  worker = await createShellWorker({ ...base, registry, queue: 'default' });
  client = createLockstepClient(base);
  const ids = await Promise.all(NAMES.flatMap((name) => Array.from({ length: RUNS_EACH }, () => client.start(name))));
  started.push(...ids);
  for (const id of ids) await client.wait(id, { timeoutMs: 60_000 });
}, 180_000);

afterAll(async () => {
  await worker?.close({ graceMs: 100 }).catch(() => {});
  await orchestrator?.close().catch(() => {});
  await client?.close();
});

describe('readHistoryLog', () => {
  it('reads every run with its sequence and dispatches, and the runs check clean', async () => {
    const log = await readHistoryLog({ ...base, dispatches: true });
    expect(log.histories.map((h) => h.runId).sort()).toEqual([...started].sort());
    expect(log.commandTopics).toEqual([topicNames(prefix).commands('default')]);
    expect(log.conflicts).toEqual([]);
    for (const h of log.histories) {
      const first = h.entries[0];
      expect(first?.type).toBe('run.started');
      expect(h.sequence?.name).toBe(first?.type === 'run.started' ? first.sequence : undefined);
      expect(h.entries.at(-1)?.type).toMatch(/^run\.(succeeded|failed)$/);
    }
    const starts = log.histories.flatMap((h) => h.entries.filter((e) => e.type === 'task.started'));
    expect(log.dispatches.length).toBeGreaterThanOrEqual(starts.length);
    const report = checkHistory(log.histories, { sequenceOf: log.sequenceOf, expectedRunIds: started, dispatches: log.dispatches });
    expect(report.violations).toEqual([]);
    expect(report).toMatchObject({ runs: started.length, finished: started.length, waiting: 0, withoutSequence: [] });
    // One dispatch per started attempt: the orchestrator dispatches each once, in its transaction.
    expect(report.duplicateDispatches).toBe(0);
    expect(log.dispatches).toHaveLength(starts.length);

    const cli = await lockstep(['check-history', '--brokers', brokers, '--prefix', prefix, '--dispatches'], { env, timeoutMs: 90_000 });
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.stdout).toContain(
      `checked ${started.length} runs in ${prefix}.history, ${prefix}.commands.default: ${started.length} finished, 0 waiting`,
    );
    expect(cli.stdout).toContain('unfinished 0, duplicate dispatches 0');
    expect(cli.stdout).toContain('OK: no violations');
  }, 120_000);

  it('drops a history record written again; counts one that disagrees with its seq as a conflict', async () => {
    const runId = started[0]!;
    const before = (await readHistoryLog(base)).histories.find((h) => h.runId === runId)!;
    const transport = new KafkaTransport({ brokers, clientId: 'history-log-test', logLevel: 'nothing' });
    const record = (seq: number, entry: unknown) => ({
      topic: topicNames(prefix).history,
      key: runId,
      value: { v: PROTOCOL_VERSION, type: 'run.entry', runId, seq, entry, state: 'succeeded' } as never,
    });
    try {
      await transport.publish([record(1, before.entries[1]), record(2, { ...before.entries[2]!, at: before.entries[2]!.at + 1 })]);
    } finally {
      await transport.close();
    }
    const after = await readHistoryLog(base);
    expect(after.histories.find((h) => h.runId === runId)!.entries).toEqual(before.entries);
    expect(after.conflicts).toEqual([{ runId, seq: 2 }]);
    const cli = await lockstep(['check-history', '--brokers', brokers, '--prefix', prefix], { env, timeoutMs: 90_000 });
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`CONFLICT run ${runId}: two different entries were written with seq 2`);
    expect(cli.stdout).toContain('FAIL: 1 violations');
  }, 120_000);
});
