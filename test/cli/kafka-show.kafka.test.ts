// `lockstep show <runId> --brokers` against the real broker: the history of a run read from its partition of the
// history topic prints exactly as `lockstep show` prints the same run from a store, text and --json; redelivered
// records are dropped; an unknown run, or one whose history expired, is an error naming the topic's retention.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import type { RunEvent } from '../../src/core/compile/types.js';
import { sha256Hex } from '../../src/core/hash.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { createProgram } from '../../src/core/step.js';
import { lockstep } from '../support/cli.js';
import { ensureHistoryTopic, PlayedRun } from '../support/played-run.js';

const brokers = inject('kafkaBrokers');
const prefix = `show-${randomUUID().slice(0, 8)}`;
const dir = mkdtempSync(join(tmpdir(), 'lockstep-kafka-show-'));
const storePath = join(dir, 'lockstep.db');
const DEFINITION = [
  'name: deliver',
  'version: 2',
  'tasks:',
  '  - id: reserve',
  '    run: echo reserved',
  '    compensate:',
  '      run: echo released',
  '  - id: charge',
  '    run: echo charged',
  '    retry: { maxAttempts: 3, backoff: { initial: 2s } }',
  '  - id: notify',
  '    run: echo told',
  '    onFailure: continue',
  '  - id: ship',
  '    run: echo shipped',
  'finally:',
  '  - id: audit',
  '    run: echo audited',
  '',
].join('\n');
const HASH = sha256Hex(DEFINITION);
const program = createProgram(loadSequenceText(DEFINITION));
const env = { KAFKA_BROKERS: '', LOCKSTEP_TOPIC_PREFIX: '' };
const showKafka = (args: string[]) => lockstep(['show', ...args, '--brokers', brokers, '--prefix', prefix], { env, timeoutMs: 60_000 });
const showStore = (args: string[]) => lockstep(['show', ...args, '--store', storePath], { env, timeoutMs: 60_000 });

let transport: KafkaTransport;

/** Plays a run over Kafka and records the same run in the store. */
async function recorded(events: readonly RunEvent[], options: { historyFrom?: number } = {}): Promise<PlayedRun> {
  const played = new PlayedRun(transport, prefix, program, { runId: randomUUID(), input: { parcel: 7 }, definitionHash: HASH, ...options });
  await played.begin();
  for (const event of events) await played.step(event, 40);
  const store = SqliteRunStore.open(storePath);
  try {
    await store.create(played.storeRecord(DEFINITION, HASH), played.entries);
  } finally {
    await store.close();
  }
  return played;
}

beforeAll(async () => {
  transport = new KafkaTransport({ brokers, clientId: 'kafka-show-test', logLevel: 'nothing' });
  await transport.ensureTopics({ prefix, partitions: 3 });
  await ensureHistoryTopic(brokers, prefix, 3);
}, 60_000);

afterAll(async () => {
  await transport?.close();
  rmSync(dir, { recursive: true, force: true });
});

const RUN: readonly RunEvent[] = [
  { type: 'TASK_SUCCEEDED', taskId: 'reserve', attempt: 1, result: { slot: 'A4' } },
  {
    type: 'TASK_FAILED',
    taskId: 'charge',
    attempt: 1,
    error: { message: 'card declined', code: 'DECLINED', output: 'gateway said no\nretry later' },
  },
  { type: 'TIMER_FIRED', timerId: 'retry:charge:1' },
  { type: 'TASK_SUCCEEDED', taskId: 'charge', attempt: 2, result: { paid: 12.5 } },
  { type: 'TASK_FAILED', taskId: 'notify', attempt: 1, error: { message: 'mail down', retriable: false } },
  { type: 'TASK_FAILED', taskId: 'ship', attempt: 1, error: { message: 'no truck', retriable: false } },
  { type: 'TASK_SUCCEEDED', taskId: 'reserve.compensate', attempt: 1 },
  { type: 'TASK_SUCCEEDED', taskId: 'audit', attempt: 1 },
];

describe('lockstep show --brokers', () => {
  it('prints the history from the history topic as show prints it from a store, dropping redelivered records', async () => {
    const played = await recorded(RUN);
    const runId = played.run.runId;
    // An orchestrator that took the partition over wrote some records again.
    await played.rewrite([3, 4, 5]);
    const [kafka, stored] = await Promise.all([showKafka([runId]), showStore([runId])]);
    expect(kafka.code, kafka.stderr).toBe(0);
    expect(stored.code, stored.stderr).toBe(0);
    expect(kafka.stderr).toBe('');
    const definitionLine = (l: string) => l.startsWith('  definition  ');
    expect(kafka.stdout.split('\n').filter((l) => !definitionLine(l))).toEqual(stored.stdout.split('\n').filter((l) => !definitionLine(l)));
    expect(kafka.stdout.split('\n').find(definitionLine)).toBe(`  definition  (held by the orchestrators), sha256 ${HASH}`);
    expect(kafka.stdout).toContain(`run ${runId} of deliver v2: failed`);
    expect(kafka.stdout).toContain(`history (${played.entries.length} entries)`);
    expect(kafka.stdout).toMatch(
      /✖ charge failed in 40ms \(attempt 1\): card declined \[DECLINED\]; retrying in 2\.00s\n\s+output:\n\s+\| gateway said no\n\s+\| retry later/,
    );
    expect(kafka.stdout).toMatch(/\n {2}notify +failed +attempts 1 /);
  }, 120_000);

  it('prints the same JSON as show --json from a store', async () => {
    const played = await recorded(RUN);
    const runId = played.run.runId;
    const [kafka, stored] = await Promise.all([showKafka([runId, '--json']), showStore([runId, '--json'])]);
    expect(kafka.code, kafka.stderr).toBe(0);
    const k = JSON.parse(kafka.stdout) as { run: Record<string, unknown>; history: unknown[] };
    const s = JSON.parse(stored.stdout) as { run: Record<string, unknown>; history: unknown[] };
    expect(k.history).toEqual(s.history);
    expect(k.history).toHaveLength(played.entries.length);
    const { definition: _kd, ...kRun } = k.run;
    const { definition: sd, ...sRun } = s.run;
    expect(sd).toBe(DEFINITION);
    expect(kRun).toEqual(sRun);
    expect(kRun).toMatchObject({
      runId,
      sequence: 'deliver',
      version: '2',
      status: 'failed',
      currentTask: 'ship',
      definitionHash: HASH,
      input: { parcel: 7 },
    });

    // A run in flight: no process of this machine drives it, but over Kafka an orchestrator does.
    const running = await recorded(RUN.slice(0, 4));
    const live = JSON.parse((await showKafka([running.run.runId, '--json'])).stdout) as {
      run: Record<string, unknown>;
      history: unknown[];
    };
    expect(live.run).toMatchObject({ status: 'running', currentTask: 'notify' });
    expect(live.history).toHaveLength(running.entries.length);
  }, 120_000);

  it('says a run is unknown, naming the retention of the history topic and that a prefix is not looked up, and exits 2', async () => {
    const runId = randomUUID();
    const result = await showKafka([runId]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      new RegExp(
        `^lockstep: unknown run ${runId}: ${prefix}\\.history holds no entry of it and ${prefix}\\.runs no state; ${prefix}\\.history keeps entries for \\S+ \\(retention\\.ms=\\d+\\)\\. Over Kafka a run is found by its whole id only \\(a prefix would mean reading every partition\\): search by prefix on the page of \`lockstep serve --brokers\` \\(UNKNOWN_RUN\\)\\n$`,
      ),
    );
  }, 60_000);

  it("says when a run's history expired, and prints what is left of a history cut by retention", async () => {
    const gone = await recorded(RUN.slice(0, 2), { historyFrom: 1_000 });
    const expired = await showKafka([gone.run.runId]);
    expect(expired.code).toBe(2);
    expect(expired.stderr).toMatch(
      new RegExp(
        `^lockstep: the history of run ${gone.run.runId} expired: ${prefix}\\.history keeps entries for \\S+ \\(retention\\.ms=\\d+\\); it is still running \\(see \`lockstep status ${gone.run.runId}\`\\) \\(UNKNOWN_RUN\\)`,
      ),
    );

    const cut = await recorded(RUN.slice(0, 2), { historyFrom: 3 });
    const partial = await showKafka([cut.run.runId]);
    expect(partial.code, partial.stderr).toBe(0);
    expect(partial.stderr).toMatch(
      new RegExp(
        `^lockstep show: the first 3 entries of run ${cut.run.runId} expired: ${prefix}\\.history keeps entries for \\S+ \\(retention\\.ms=\\d+\\); the ${cut.entries.length - 3} after them follow\\n$`,
      ),
    );
    expect(partial.stdout).toContain(`history (${cut.entries.length - 3} entries)`);
    expect(partial.stdout).toContain(`run ${cut.run.runId} of deliver v2: running`);
  }, 120_000);

  it('refuses --store with --brokers, and --prefix without --brokers', async () => {
    const both = await lockstep(['show', 'x', '--store', storePath, '--brokers', brokers], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--store and --brokers exclude each other');
    const prefixOnly = await lockstep(['show', 'x', '--prefix', 'p'], { env });
    expect(prefixOnly.code).toBe(2);
    expect(prefixOnly.stderr).toContain('--prefix names Kafka topics: it needs --brokers');
  });
});
