// The Kafka commands as a user runs them: topics create, orchestrator, worker, start [--wait], status, show, cancel.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { lockstep } from '../support/cli.js';
import type { Service } from '../support/kafka-log.js';
import { startService } from '../support/kafka-log.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-kafka-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const brokers = inject('kafkaBrokers');
const prefix = `cli-${randomUUID().slice(0, 8)}`;
const machines = mkdtempSync(join(scratch, 'kafka-cli-'));
writeFileSync(
  join(machines, 'greet.yaml'),
  'name: greet\nversion: 1\ntasks:\n  - id: hello\n    run: echo "{\\"hi\\":$(echo $LOCKSTEP_INPUT)}"\n  - id: bye\n    run: ":"\n',
);
writeFileSync(join(machines, 'fails.yaml'), 'name: fails\nversion: 1\ntasks:\n  - id: boom\n    run: exit 3\n');
writeFileSync(join(machines, 'slow.yaml'), 'name: slow\nversion: 1\ntasks:\n  - id: nap\n    run: sleep 30\n');

const env = { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix };
const run = (args: string[], timeoutMs = 30_000) => lockstep(args, { env, timeoutMs });

describe('lockstep Kafka commands', () => {
  const services: Service[] = [];
  beforeAll(async () => {
    const created = await run(['topics', 'create', '--partitions', '2', '--sequences', machines]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain(`created ${prefix}.events (2 partitions)`);
    expect(created.stdout).toContain(`created ${prefix}.runs (2 partitions)`);
    services.push(startService('orchestrator', ['orchestrator', '--sequences', machines], env));
    services.push(startService('worker', ['worker', '--sequences', machines, '--grace', '200'], env));
    await Promise.all(services.map((s) => s.ready));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
  });

  it('topics create leaves existing topics alone', async () => {
    const again = await run(['topics', 'create', '--partitions', '2']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`exists  ${prefix}.events`);
    expect(again.stdout).not.toContain('created');
  });

  it('start --wait runs a sequence and exits with its outcome', async () => {
    const ok = await run(['start', 'greet', '--input', '{"x":1}', '--wait']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/: succeeded greet v1 in /);
    const failed = await run(['start', 'fails', '--wait', '--json']);
    expect(failed.code).toBe(1);
    const state = JSON.parse(failed.stdout) as { status: string; final: { failedTasks: string[] } };
    expect(state).toMatchObject({ status: 'failed', final: { failedTasks: ['boom'] } });
  });

  it('show --brokers prints the history the orchestrator wrote, the one embedded mode records for the same run', async () => {
    const started = await run(['start', 'greet', '--input', '{"x":1}', '--wait', '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { runId } = JSON.parse(started.stdout) as { runId: string };
    const shown = await run(['show', runId, '--brokers', brokers, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const kafka = JSON.parse(shown.stdout) as { run: Record<string, unknown>; history: Array<Record<string, unknown>> };
    expect(kafka.run).toMatchObject({ runId, sequence: 'greet', version: '1', status: 'succeeded', input: { x: 1 } });

    const store = join(mkdtempSync(join(scratch, 'kafka-cli-store-')), 'lockstep.db');
    const local = await lockstep(['run', join(machines, 'greet.yaml'), '--input', '{"x":1}', '--store', store, '--json'], {
      env: { LOCKSTEP_STORE: '' },
    });
    expect(local.code, local.stderr).toBe(0);
    const localId = (JSON.parse(local.stdout.split('\n')[0]!) as { runId: string }).runId;
    const embedded = JSON.parse((await lockstep(['show', localId, '--store', store, '--json'])).stdout) as typeof kafka;
    // The same entries, field for field, but for the run's id and the clock.
    const same = (entries: Array<Record<string, unknown>>, id: string) =>
      entries.map(({ at: _at, durationMs: _d, ...e }) => JSON.parse(JSON.stringify(e).replaceAll(id, '<run>')) as unknown);
    expect(same(kafka.history, runId)).toEqual(same(embedded.history, localId));
    expect(kafka.history.map((e) => e.type)).toEqual([
      'run.started',
      'task.started',
      'task.succeeded',
      'task.started',
      'task.succeeded',
      'run.succeeded',
    ]);
  });

  it('status shows a run, and cancel cancels it', async () => {
    const started = await run(['start', 'slow']);
    const runId = started.stdout.trim();
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    await expect
      .poll(async () => (await run(['status', runId])).stdout, { timeout: 20_000, interval: 300 })
      .toContain('nap in flight (attempt 1)');
    const cancelled = await run(['cancel', runId, '--reason', 'from the test']);
    expect(cancelled.stdout).toBe(`cancel requested for ${runId}\n`);
    await expect
      .poll(async () => (JSON.parse((await run(['status', runId, '--json'])).stdout || '{}') as { status?: string }).status, {
        timeout: 20_000,
        interval: 300,
      })
      .toBe('cancelled');
  });

  it('reports a run whose sequence no orchestrator knows as failed, and an unknown run id as invalid', async () => {
    const unknown = await run(['start', 'no-such-sequence', '--wait']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/failed .*not started: unknown sequence "no-such-sequence"/);
    const missing = await run(['status', randomUUID()]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/unknown run/);
  });

  it('says where the brokers come from when none are given', async () => {
    const result = await lockstep(['status', 'x'], { env: { KAFKA_BROKERS: '' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--brokers host:port or set KAFKA_BROKERS/);
  });

  it('refuses a --keep-finished that is not a duration, before connecting', async () => {
    const result = await lockstep(['orchestrator', '--sequences', 'machines', '--brokers', '127.0.0.1:1', '--keep-finished', 'forever']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Expected `--keep-finished` to be a duration such as 7d, 12h or 30m, got `forever`');
  });

  it('takes the sequences from --sequences, or from --machines, its deprecated name, which the help leaves out', async () => {
    for (const command of ['orchestrator', 'worker', 'topics create']) {
      const help = await lockstep([...command.split(' '), '--help']);
      expect(help.stdout).toContain('--sequences <dir>');
      expect(help.stdout).not.toContain('--machines');
    }
    // The old name still reaches the same check as --sequences does: the sequences loaded, the option refused.
    const old = await lockstep(['orchestrator', '--machines', 'machines', '--brokers', '127.0.0.1:1', '--keep-finished', 'forever']);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain('Expected `--keep-finished` to be a duration');
    const missing = await lockstep(['orchestrator', '--brokers', '127.0.0.1:1']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing --sequences <dir>: the directory (or file) of sequence definitions (INVALID_USAGE)');
    const both = await lockstep(['worker', '--sequences', 'machines', '--machines', 'other', '--brokers', '127.0.0.1:1']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--sequences machines and --machines other disagree');
    const unknown = await lockstep(['orchestrator', '--sequences', '/no/such/dir', '--brokers', '127.0.0.1:1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('lockstep: no sequences at /no/such/dir: no such file or directory (INVALID_USAGE)\n');
  });

  it('stops an orchestrator and a worker on SIGTERM, printing their counters', async () => {
    for (const s of services) {
      expect(await s.stop('SIGTERM')).toBe(0);
      expect(s.lines.at(-1)).toMatchObject({ event: 'stats' });
    }
  });
});
