// Attempt logs in Kafka mode against the real broker: workers ship shell output and handlers' ctx.log lines on the
// log topic before they report each outcome, in records within the topic's limit, and `lockstep logs --brokers` and
// the Kafka run service (serve --brokers) read them back.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaTransport } from '../../src/adapters/kafka/index.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { sequence } from '../../src/core/sequence/builder.js';
import type { KafkaOrchestrator, KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import { createKafkaRunService, createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { truncationMarker } from '../../src/runtime/attempt-log.js';
import { jsonLines, lockstep } from '../support/cli.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const env = { KAFKA_BROKERS: '', LOCKSTEP_TOPIC_PREFIX: '' };

const shipped = sequence('shipped')
  .then('build', { run: 'echo "compiling"; sleep 0.05; echo "careful" >&2; echo \'{"built":true}\'' })
  .then(
    'note',
    async (ctx) => {
      ctx.log('noted', { attempt: ctx.attempt });
      if (ctx.attempt === 1) throw new Error('try again');
      return { noted: true };
    },
    { retry: { maxAttempts: 2, backoff: { initial: '50ms' } } },
  )
  .then('bill', { queue: 'billing' })
  // 1.5 MB on one line: cut into lines, capped at 1 MiB, shipped in records under the topic's 1 MB limit.
  .then('loud', { run: "head -c 1500000 /dev/zero | tr '\\0' x" })
  .build();

describe('attempt logs over Kafka', () => {
  const prefix = `logs-${randomUUID().slice(0, 8)}`;
  const open: Array<KafkaOrchestrator | KafkaWorker | LockstepClient> = [];
  const track = <T extends KafkaOrchestrator | KafkaWorker | LockstepClient>(c: T): T => (open.push(c), c);
  afterAll(async () => {
    for (const c of open.reverse()) await ('inFlight' in c ? c.close({ handBack: true }) : c.close()).catch(() => {});
  });

  it('ships shell output and handler lines on the log topic; logs --brokers and the run service read them back', async () => {
    track(await startKafkaOrchestrator({ ...base, prefix, sequences: [shipped], partitions: 2 }));
    track(await createWorker({ ...base, prefix, sequences: [shipped], queue: 'default' }));
    track(
      await createWorker({
        ...base,
        prefix,
        queue: 'billing',
        handlers: {
          bill: (ctx) => {
            ctx.log(`billing run ${ctx.runId}`);
            return { billed: 1 };
          },
        },
      }),
    );
    const client = track(createLockstepClient({ ...base, prefix }));
    const runId = await client.start('shipped');
    const final = await client.wait(runId, { timeoutMs: 90_000 });
    expect(final.status).toBe('succeeded');

    const logs = await client.logs(runId);
    expect(logs.map((l) => [l.task, l.attempt, l.phase])).toEqual([
      ['build', 1, 'main'],
      ['note', 1, 'main'],
      ['note', 2, 'main'],
      ['bill', 1, 'main'],
      ['loud', 1, 'main'],
    ]);
    const loud = logs[4]!;
    expect(loud.truncated).toBe(true);
    expect(loud.lines.at(-1)).toMatchObject({ stream: 'log', text: truncationMarker(1_048_576, 1_500_000 - 1_048_576) });
    expect(loud.lines.slice(0, -1).reduce((n, l) => n + l.text.length, 0)).toBe(1_048_576);

    // Several records carried that one attempt: each within the topic's limit.
    const transport = new KafkaTransport(base);
    try {
      const topic = topicNames(prefix).logs;
      const records = await transport.readPartitions(topic, [0, 1]);
      const limit = (await transport.recordLimits([topic])).get(topic)!;
      const ofLoud = records.filter((r) => r.key === runId && r.value!.includes('"task":"loud"'));
      expect(ofLoud.length).toBeGreaterThan(1);
      for (const r of records) expect(Buffer.byteLength(r.value!) + Buffer.byteLength(r.key!)).toBeLessThanOrEqual(limit);
    } finally {
      await transport.close();
    }

    const cli = await lockstep(['logs', runId, '--brokers', brokers, '--prefix', prefix, '--task', 'build'], { env, timeoutMs: 60_000 });
    expect(cli.code).toBe(0);
    expect(cli.stdout.trimEnd().split('\n')).toEqual([
      'build#1 stdout | compiling',
      'build#1 stderr | careful',
      'build#1 stdout | {"built":true}',
    ]);
    const json = await lockstep(['logs', runId, '--brokers', brokers, '--prefix', prefix, '--task', 'note', '--json'], {
      env,
      timeoutMs: 60_000,
    });
    expect(jsonLines(json.stdout).map((l) => [l.attempt, l.stream, l.text])).toEqual([
      [1, 'log', 'noted { attempt: 1 }'],
      [2, 'log', 'noted { attempt: 2 }'],
    ]);
    const unknown = await lockstep(['logs', 'no-such-run', '--brokers', brokers, '--prefix', prefix], { env, timeoutMs: 60_000 });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown run no-such-run');

    const service = await createKafkaRunService({ ...base, prefix, sequences: [] });
    try {
      await expect
        .poll(async () => (await service.runLogs(runId, { task: 'bill' }))?.[0]?.lines.map((l) => l.text), { timeout: 30_000 })
        .toEqual([`billing run ${runId}`]);
      expect(await service.runLogs('no-such-run')).toBeUndefined();
    } finally {
      await service.close();
    }
  });
  it('logs -f --brokers follows a run that workers are running, and exits 0 once it ends', async () => {
    const own = `logs-${randomUUID().slice(0, 8)}`;
    let open_: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => (open_ = resolve));
    const waiting = sequence('waiting')
      .then('hold', async (ctx) => {
        ctx.log('holding');
        await gate;
        ctx.log('released');
      })
      .then('after', { run: 'echo done' })
      .build();
    track(await startKafkaOrchestrator({ ...base, prefix: own, sequences: [waiting], partitions: 1 }));
    track(await createWorker({ ...base, prefix: own, sequences: [waiting], queue: 'default' }));
    const client = track(createLockstepClient({ ...base, prefix: own }));
    const runId = await client.start('waiting');
    await expect.poll(() => client.status(runId).then((s) => s?.currentTask), { timeout: 30_000 }).toBe('hold');
    let opened = false;
    const follow = await lockstep(['logs', runId, '-f', '--brokers', brokers, '--prefix', own], {
      env,
      timeoutMs: 90_000,
      onStdout: (text) => {
        if (!opened && text.includes('hold#1 log    | holding')) {
          opened = true;
          open_!();
        }
      },
    });
    expect(opened).toBe(true);
    expect(follow.code).toBe(0);
    expect(follow.stdout.trimEnd().split('\n')).toEqual(['hold#1 log    | holding', 'hold#1 log    | released', 'after#1 stdout | done']);
  });
});
