// Waits in Kafka mode against the real broker, with the orchestrator and the shell worker as OS processes
// (`node bin/lockstep.js`, so `npm run build` first) and every signal produced by a plain kafkajs producer as the
// raw JSON of schemas/task.signal.json: a signal's data reaches the next task, a rejection runs the compensations, a
// timeout fails the wait, a bad payload is dead-lettered with every problem and nothing of it recorded, a second
// signal is ignored and counted. Then the orchestrator is SIGKILLed while runs wait and started again: before their
// due time they still wait (and a signal applies), after it a delay proceeds and a signal wait times out at once.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadSequenceFile } from '../../src/adapters/fs/load-sequence.js';
import { topicNames } from '../../src/core/protocol/envelope.js';
import { parseHistoryRecord } from '../../src/core/protocol/history-record.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import type { LockstepClient } from '../../src/modes/kafka/index.js';
import { createKafkaRunService, createLockstepClient } from '../../src/modes/kafka/index.js';
import { lockstep, ROOT } from '../support/cli.js';
import type { Service } from '../support/kafka-log.js';
import { plainKafka, startService, TopicLog } from '../support/kafka-log.js';

const brokers = inject('kafkaBrokers');
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-wait-kafka-'));
const machines = join(scratch, 'machines');
const prefix = `wait-${randomUUID().slice(0, 8)}`;
const topics = topicNames(prefix);
const common = ['--brokers', brokers, '--prefix', prefix, '--sequences', machines];

const SCHEMA = `
      schema:
        type: object
        properties: { approver: { type: string, minLength: 1 }, ticket: { type: integer } }
        required: [approver, ticket]`;
/** build (undone by its compensation), a signal wait, then deploy, which shows the signal's data it was given. */
const approval = (name: string, timeout: string) => `name: ${name}
version: 1
tasks:
  - id: build
    run: sleep 1; echo '{"built":true}'
    compensate: { run: echo undone }
  - id: approve
    wait:
      signal: true${SCHEMA}
    timeout: ${timeout}
  - id: deploy
    run: sleep 1; echo "{\\"deployed\\":$LOCKSTEP_RESULT_APPROVE}"
`;
const delay = (name: string, duration: string) => `name: ${name}
version: 1
tasks:
  - id: hold
    wait: { duration: ${duration} }
  - id: after
    run: echo '"after"'
`;

/** A task.signal exactly as schemas/task.signal.json describes it, built by hand. */
const rawSignal = (runId: string, taskId: string, payload: Record<string, unknown>) =>
  JSON.stringify({ v: 1, id: randomUUID(), runId, time: new Date().toISOString(), type: 'task.signal', taskId, payload });

const states = new Map<string, RunState>();
const histories = new Map<string, Map<number, RunEntry>>();
const letters: Array<{ raw: string; reason: string }> = [];
let orchestrator: Service;
let worker: Service;
let producer: Producer;
let log: TopicLog;
let client: LockstepClient;

const historyOf = (runId: string): RunEntry[] =>
  [...(histories.get(runId) ?? new Map<number, RunEntry>())].sort(([a], [b]) => a - b).map(([, e]) => e);
const typesOf = (runId: string) => historyOf(runId).map((e) => ('task' in e ? `${e.type} ${e.task}` : e.type));
const entryOf = (runId: string, type: string, task: string) =>
  historyOf(runId).find((e) => e.type === type && 'task' in e && e.task === task) as
    | (RunEntry & { at: number; until?: number })
    | undefined;
const signal = (runId: string, taskId: string, payload: Record<string, unknown>) =>
  producer.send({ topic: topics.events, messages: [{ key: runId, value: rawSignal(runId, taskId, payload) }] });
const start = (sequence: string) => client.start(sequence);
/** Resolves once the run's wait is recorded (its task.waiting entry) and committed in its state. */
const waiting = async (runId: string, task: string) => {
  await expect.poll(() => entryOf(runId, 'task.waiting', task), { timeout: 30_000 }).toBeDefined();
  await expect.poll(() => states.get(runId)?.currentTask, { timeout: 30_000 }).toBe(task);
  return entryOf(runId, 'task.waiting', task)!;
};
const ended = async (runId: string, timeout = 30_000) => {
  await expect
    .poll(() => states.get(runId)?.status, { timeout, message: `run ${runId}: ${typesOf(runId).join(', ')}\n${orchestrator.stderr()}` })
    .not.toBe('running');
  return states.get(runId)!;
};
const resultsOf = (state: RunState) => (state.snapshot.context as { results: Record<string, unknown> }).results;
/** The orchestrator's latest stats line. */
const stats = () =>
  [...orchestrator.lines].reverse().find((l) => l.event === 'stats') as
    | { ignored: Record<string, number>; deadLettered: number }
    | undefined;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('these tests run bin/lockstep.js: run `npm run build` first');
  const files: Record<string, string> = {
    'approval.yaml': approval('approval', '10m'),
    'brief.yaml': approval('brief', '2s'),
    'long-approval.yaml': approval('long-approval', '10m'),
    'short-approval.yaml': approval('short-approval', '6s'),
    'long-delay.yaml': delay('long-delay', '50s'),
    'short-delay.yaml': delay('short-delay', '6s'),
  };
  mkdirSync(machines);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(machines, file), text);
  const created = await lockstep(['topics', 'create', '--partitions', '2', ...common], { timeoutMs: 90_000 });
  expect(created.code, created.stderr).toBe(0);
  log = await TopicLog.start(plainKafka(brokers), [topics.runs, topics.history, topics.deadLetter], (r) => {
    if (!r.value) return;
    if (r.topic === topics.runs && r.key && !r.key.startsWith('__lockstep.')) {
      const state = JSON.parse(r.value) as RunState;
      if (state.type === 'run.state') states.set(r.key, state);
    } else if (r.topic === topics.history) {
      const parsed = parseHistoryRecord(r.value);
      if (!parsed.success) return;
      const entries = histories.get(parsed.record.runId) ?? new Map<number, RunEntry>();
      entries.set(parsed.record.seq, parsed.record.entry);
      histories.set(parsed.record.runId, entries);
    } else if (r.topic === topics.deadLetter) letters.push(JSON.parse(r.value) as { raw: string; reason: string });
  });
  orchestrator = startService('orchestrator', ['orchestrator', ...common, '--stats-interval', '300']);
  worker = startService('worker', ['worker', ...common]);
  await Promise.all([orchestrator.ready, worker.ready]);
  producer = plainKafka(brokers).producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  client = createLockstepClient({ brokers, prefix, logLevel: 'nothing' });
}, 120_000);

afterAll(async () => {
  await Promise.all([orchestrator?.stop('SIGKILL'), worker?.stop('SIGKILL')]);
  await producer?.disconnect().catch(() => {});
  await log?.stop().catch(() => {});
  await client?.close().catch(() => {});
  rmSync(scratch, { recursive: true, force: true });
}, 30_000);

describe('a wait in Kafka mode, signalled by a plain producer', () => {
  it("a signal's data becomes the wait's result, which the next task is given", async () => {
    const runId = await start('approval');
    const waited = await waiting(runId, 'approve');
    expect(waited).toMatchObject({ for: 'signal', attempt: 1, until: waited.at + 600_000 });
    await signal(runId, 'approve', { data: { approver: 'ana', ticket: 7 } });
    const final = await ended(runId);
    expect(final.status).toBe('succeeded');
    expect(resultsOf(final)).toEqual({
      build: { built: true },
      approve: { approver: 'ana', ticket: 7 },
      deploy: { deployed: { approver: 'ana', ticket: 7 } },
    });
  });

  it('a rejection fails the wait for good, and the compensations run', async () => {
    const runId = await start('approval');
    await waiting(runId, 'approve');
    await signal(runId, 'approve', { reject: 'not today' });
    const final = await ended(runId);
    expect(final).toMatchObject({ status: 'failed', final: { failedTasks: ['approve'] } });
    const failed = entryOf(runId, 'task.failed', 'approve') as RunEntry & { error: { code?: string; message: string } };
    expect(failed.error).toMatchObject({ code: 'SIGNAL_REJECTED', message: 'rejected: not today', retriable: false });
    expect((final.snapshot.context as { compensated: string[] }).compensated).toEqual(['build.compensate']);
    expect(typesOf(runId)).toContain('task.succeeded build.compensate');
    expect(typesOf(runId)).not.toContain('task.started deploy');
  });

  it('a wait that no signal ends times out', async () => {
    const runId = await start('brief');
    const waited = await waiting(runId, 'approve');
    const final = await ended(runId);
    expect(final).toMatchObject({ status: 'failed', final: { failedTasks: ['approve'] } });
    const failed = entryOf(runId, 'task.failed', 'approve') as RunEntry & { at: number; error: { code?: string } };
    expect(failed.error.code).toBe('TASK_TIMEOUT');
    expect(failed.at).toBeGreaterThanOrEqual(waited.until!);
    expect((final.snapshot.context as { compensated: string[] }).compensated).toEqual(['build.compensate']);
    expect(typesOf(runId)).toContain('task.succeeded build.compensate');
  });

  it('a bad payload is dead-lettered with every problem, and nothing of it is recorded', async () => {
    const runId = await start('approval');
    await waiting(runId, 'approve');
    const before = historyOf(runId).length;
    const bad = rawSignal(runId, 'approve', { data: { approver: '', ticket: 'seven' } });
    await producer.send({ topic: topics.events, messages: [{ key: runId, value: bad }] });
    await expect.poll(() => letters.find((l) => l.raw === bad), { timeout: 20_000 }).toBeDefined();
    const reason = letters.find((l) => l.raw === bad)!.reason;
    expect(reason).toMatch(/payload\.data\.approver: .+; payload\.data\.ticket: .+/);
    // A task that is not a signal wait is refused the same way.
    const wrong = rawSignal(runId, 'deploy', { data: 1 });
    await producer.send({ topic: topics.events, messages: [{ key: runId, value: wrong }] });
    await expect
      .poll(() => letters.find((l) => l.raw === wrong)?.reason, { timeout: 20_000 })
      .toBe('payload.taskId: task "deploy" does not wait for a signal');
    expect(historyOf(runId)).toHaveLength(before);
    expect(states.get(runId)).toMatchObject({ status: 'running', currentTask: 'approve' });
    // The run still waits, and a good signal ends it.
    await signal(runId, 'approve', { data: { approver: 'bo', ticket: 1 } });
    expect((await ended(runId)).status).toBe('succeeded');
    expect(typesOf(runId).filter((t) => t.endsWith(' approve'))).toEqual([
      'task.started approve',
      'task.waiting approve',
      'task.succeeded approve',
    ]);
  });

  it('a second signal is ignored as a duplicate, recorded as such and counted', async () => {
    const runId = await start('approval');
    await waiting(runId, 'approve');
    const duplicates = stats()?.ignored.duplicate ?? 0;
    await producer.send({
      topic: topics.events,
      messages: [
        { key: runId, value: rawSignal(runId, 'approve', { data: { approver: 'ana', ticket: 1 } }) },
        { key: runId, value: rawSignal(runId, 'approve', { reject: 'too late' }) },
      ],
    });
    const final = await ended(runId);
    expect(final.status).toBe('succeeded');
    expect(resultsOf(final).approve).toEqual({ approver: 'ana', ticket: 1 });
    const ignored = historyOf(runId).filter((e) => e.type === 'event.ignored');
    expect(ignored).toMatchObject([{ reason: 'duplicate', event: { type: 'TASK_FAILED', taskId: 'approve', attempt: 1 } }]);
    await expect.poll(() => (stats()?.ignored.duplicate ?? 0) - duplicates, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
  });
});

describe('client.signal', () => {
  it('refuses what the run would not apply before publishing, and publishes the rest', async () => {
    const runId = await start('approval');
    await expect.poll(() => states.get(runId)?.currentTask, { timeout: 30_000 }).toBe('build');
    await expect(client.signal(runId, 'approve', { data: { approver: 'ana', ticket: 1 } })).rejects.toMatchObject({
      code: 'NOT_WAITING',
    });
    await waiting(runId, 'approve');
    const before = historyOf(runId).length;
    const invalid = await client.signal(runId, 'approve', { data: { ticket: 1.5 } }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'INVALID_SIGNAL', name: 'InvalidSignalError' });
    expect((invalid as { problems: Array<{ path: string }> }).problems.map((p) => p.path).sort()).toEqual(['data.approver', 'data.ticket']);
    await expect(client.signal(runId, 'deploy', { data: 1 })).rejects.toMatchObject({ code: 'INVALID_SIGNAL' });
    await expect(client.signal(runId, 'approve', { reject: '' })).rejects.toMatchObject({ code: 'INVALID_SIGNAL' });
    await expect(client.signal(`unknown-${randomUUID()}`, 'approve', { reject: 'no' })).rejects.toMatchObject({ code: 'UNKNOWN_RUN' });
    expect(historyOf(runId)).toHaveLength(before);

    expect(await client.signal(runId, 'approve', { data: { approver: 'cy', ticket: 2 } })).toEqual({ status: 'recorded', driven: true });
    const final = await ended(runId);
    expect(resultsOf(final).deploy).toEqual({ deployed: { approver: 'cy', ticket: 2 } });
    await expect(client.signal(runId, 'approve', { reject: 'later' })).rejects.toMatchObject({ code: 'RUN_ENDED' });
  });
});

describe('lockstep signal --brokers', () => {
  it('refuses a bad payload with every problem (exit 2), then publishes a good one the run applies', async () => {
    const runId = await start('approval');
    await waiting(runId, 'approve');
    const kafka = ['--brokers', brokers, '--prefix', prefix];
    const bad = await lockstep(['signal', runId, 'approve', '--data', '{"ticket":1.5}', ...kafka], { timeoutMs: 60_000 });
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toContain('data.approver');
    expect(bad.stderr).toContain('data.ticket');
    const good = await lockstep(['signal', runId, 'approve', '--data', '{"approver":"dee","ticket":3}', ...kafka], { timeoutMs: 60_000 });
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain(`the orchestrator that owns run ${runId} applies it`);
    const final = await ended(runId);
    expect(resultsOf(final).approve).toEqual({ approver: 'dee', ticket: 3 });
  }, 120_000);
});

describe('RunService.signalRun (lockstep serve over Kafka)', () => {
  it('checks the signal against what the service has followed, then publishes it', async () => {
    const file = loadSequenceFile(join(machines, 'approval.yaml'));
    const service = await createKafkaRunService({
      brokers,
      prefix,
      logLevel: 'nothing',
      sequences: [{ sequence: file.sequence, definition: file.text }],
    });
    try {
      const runId = await start('approval');
      await waiting(runId, 'approve');
      await expect.poll(async () => (await service.getRun(runId))?.position?.facts.current?.taskId, { timeout: 20_000 }).toBe('approve');
      const invalid = await service.signalRun!(runId, { taskId: 'approve', data: { approver: 'ed' } }).catch((e: unknown) => e);
      expect(invalid).toMatchObject({ code: 'INVALID_SIGNAL', problems: [{ path: 'data.ticket' }] });
      await expect(service.signalRun!(`unknown-${randomUUID()}`, { taskId: 'approve', reject: 'no' })).rejects.toMatchObject({
        code: 'UNKNOWN_RUN',
      });
      expect(await service.signalRun!(runId, { taskId: 'approve', data: { approver: 'ed', ticket: 4 } })).toEqual({
        status: 'recorded',
        driven: true,
      });
      expect(resultsOf(await ended(runId)).approve).toEqual({ approver: 'ed', ticket: 4 });
      await expect.poll(async () => (await service.getRun(runId))?.record.status, { timeout: 20_000 }).toBe('succeeded');
      await expect(service.signalRun!(runId, { taskId: 'approve', reject: 'no' })).rejects.toMatchObject({ code: 'RUN_ENDED' });
    } finally {
      await service.close();
    }
  });
});

describe('an orchestrator SIGKILLed while runs wait, then started again', () => {
  it('before the due time the runs still wait; after it a delay proceeds and a signal wait times out at once', async () => {
    const [longDelay, longApproval, shortDelay, shortApproval, outage] = await Promise.all(
      ['long-delay', 'long-approval', 'short-delay', 'short-approval', 'long-approval'].map(start),
    );
    await waiting(outage!, 'approve');
    const due = {
      longDelay: (await waiting(longDelay!, 'hold')).until!,
      longApproval: (await waiting(longApproval!, 'approve')).until!,
      shortDelay: (await waiting(shortDelay!, 'hold')).until!,
      shortApproval: (await waiting(shortApproval!, 'approve')).until!,
    };
    expect(states.get(longDelay!)!.timers).toEqual({ 'wait:hold:1': due.longDelay });
    expect(states.get(shortApproval!)!.timers).toEqual({ 'timeout:approve:1': due.shortApproval });
    orchestrator.child.kill('SIGKILL');
    expect(await orchestrator.exited).toBeNull();
    // Kept on the events topic while no orchestrator runs: the one that takes the run over applies it.
    await signal(outage!, 'approve', { data: { approver: 'flo', ticket: 5 } });
    // Started again once the short waits are due, and well before the long ones are.
    const late = Math.max(due.shortDelay, due.shortApproval) + 500;
    await new Promise((r) => setTimeout(r, Math.max(0, late - Date.now())));
    expect(Date.now()).toBeLessThan(due.longDelay - 25_000);
    orchestrator = startService('orchestrator', ['orchestrator', ...common, '--stats-interval', '300']);
    await orchestrator.ready;
    const restartedAt = Date.now();

    // Past their due time: the delay proceeds, the signal wait times out, as soon as the runs are taken over.
    const [delayed, timedOut] = await Promise.all([ended(shortDelay!, 40_000), ended(shortApproval!, 40_000)]);
    expect(delayed.status).toBe('succeeded');
    expect(timedOut).toMatchObject({ status: 'failed', final: { failedTasks: ['approve'] } });
    const proceeded = entryOf(shortDelay!, 'task.succeeded', 'hold')!;
    const expired = entryOf(shortApproval!, 'task.failed', 'approve') as RunEntry & { at: number; error: { code?: string } };
    expect(expired.error.code).toBe('TASK_TIMEOUT');
    for (const at of [proceeded.at, expired.at]) {
      expect(at).toBeGreaterThanOrEqual(restartedAt);
      // At once: the takeover (the killed member's session must expire first), not another wait.
      expect(at - restartedAt).toBeLessThan(20_000);
    }

    // Before their due time: still waiting, due when they were.
    expect(states.get(longDelay!)).toMatchObject({ status: 'running', currentTask: 'hold', timers: { 'wait:hold:1': due.longDelay } });
    expect(states.get(longApproval!)).toMatchObject({ status: 'running', currentTask: 'approve' });
    expect(entryOf(longDelay!, 'task.succeeded', 'hold')).toBeUndefined();
    await signal(longApproval!, 'approve', { data: { approver: 'dee', ticket: 3 } });
    const approved = await ended(longApproval!);
    expect(approved.status).toBe('succeeded');
    expect(resultsOf(approved).deploy).toEqual({ deployed: { approver: 'dee', ticket: 3 } });
    expect(resultsOf(await ended(outage!)).deploy).toEqual({ deployed: { approver: 'flo', ticket: 5 } });
    const held = await ended(longDelay!, due.longDelay - Date.now() + 30_000);
    expect(held.status).toBe('succeeded');
    // Due when it first was, not a whole delay after the takeover.
    const heldAt = entryOf(longDelay!, 'task.succeeded', 'hold')!.at;
    expect(heldAt).toBeGreaterThanOrEqual(due.longDelay);
    expect(heldAt - due.longDelay).toBeLessThan(5_000);
    console.log(
      JSON.stringify({
        delayPastDueProceededMsAfterRestart: proceeded.at - restartedAt,
        signalWaitPastDueTimedOutMsAfterRestart: expired.at - restartedAt,
        delayNotDueFiredMsAfterDue: heldAt - due.longDelay,
      }),
    );
  }, 180_000);
});
