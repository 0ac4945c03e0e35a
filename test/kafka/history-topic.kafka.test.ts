// The history topic: created with the events topic's partitions, deleted by age, with a retention users set.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { sha256Hex } from '../../src/core/hash.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { definitionText } from '../../src/modes/embedded/embedded-runtime.js';
import { startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { lockstep } from '../support/cli.js';
import { rawAdmin } from '../support/raw-kafka.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };

describe('the history topic', () => {
  let transport: KafkaTransport;
  beforeAll(() => {
    transport = new KafkaTransport(base);
  });
  afterAll(async () => {
    await transport.close();
  });

  const configOf = async (topic: string) => Object.fromEntries(await transport.topicConfig(topic, ['cleanup.policy', 'retention.ms']));
  const partitionsOf = async (topic: string) => (await transport.partitionCounts([topic])).get(topic);

  it('lockstep topics create --history-retention sets how long entries are kept', async () => {
    const prefix = `ht-${randomUUID().slice(0, 8)}`;
    const created = await lockstep([
      'topics',
      'create',
      '--partitions',
      '2',
      '--history-retention',
      '30d',
      '--brokers',
      brokers,
      '--prefix',
      prefix,
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`created ${prefix}.history (2 partitions)`);
    expect(await configOf(`${prefix}.history`)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': String(30 * 24 * 3600_000) });
    expect(await partitionsOf(`${prefix}.history`)).toBe(2);
    const again = await lockstep(['topics', 'create', '--partitions', '2', '--brokers', brokers, '--prefix', prefix]);
    expect(again.stdout).toContain(`exists  ${prefix}.history`);
    expect(await configOf(`${prefix}.history`)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': String(30 * 24 * 3600_000) });
  });

  it('refuses a --history-retention that is not a duration, before connecting', async () => {
    for (const command of [
      ['topics', 'create', '--partitions', '1'],
      ['orchestrator', '--machines', 'machines'],
    ]) {
      const result = await lockstep([...command, '--brokers', '127.0.0.1:1', '--history-retention', 'forever']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('Expected `--history-retention` to be a duration such as 7d, 12h or 30m, got `forever`');
    }
  });

  it('an orchestrator on topics made before history was kept creates the history topic alone, like the events topic', async () => {
    const prefix = `ht-${randomUUID().slice(0, 8)}`;
    const names = topicNames(prefix);
    const admin = await rawAdmin(brokers);
    // The layout of an older lockstep: no history topic, and 3 partitions.
    await admin
      .createTopics({
        waitForLeaders: true,
        topics: [names.events, names.runs, names.deadLetter, names.commands('default')].map((topic) => ({
          topic,
          numPartitions: 3,
          replicationFactor: 1,
          ...(topic === names.runs ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}),
        })),
      })
      .finally(() => admin.disconnect());
    const s = sequence('one')
      .then('a', async () => 'a')
      .build();
    const registry = new ProgramRegistry();
    registry.register(s, { definition: definitionText(s), hash: sha256Hex(definitionText(s)) });
    const orchestrator = await startKafkaOrchestrator({ ...base, prefix, registry, historyRetentionMs: 3_600_000 });
    try {
      // Older layouts lack the definitions topic too: those two are the only topics an orchestrator creates.
      expect(orchestrator.topics.created).toEqual([names.history, names.definitions]);
      expect(await partitionsOf(names.history)).toBe(3);
      expect(await configOf(names.history)).toEqual({ 'cleanup.policy': 'delete', 'retention.ms': '3600000' });
      expect(await configOf(names.runs)).toMatchObject({ 'cleanup.policy': 'compact' });
    } finally {
      await orchestrator.close();
    }
    // Once it exists it is left as it is.
    const again = await startKafkaOrchestrator({ ...base, prefix, registry, historyRetentionMs: 60_000 });
    try {
      expect(again.topics.created).toEqual([]);
      expect(again.topics.existing).toContain(names.history);
      expect((await configOf(names.history))['retention.ms']).toBe('3600000');
    } finally {
      await again.close();
    }
  });
});
