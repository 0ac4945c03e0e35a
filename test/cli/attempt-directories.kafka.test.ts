// A Kafka worker SIGKILLed while a shell task runs: the task's lifeline stops its process group and removes the
// attempt's directory, and the worker's parent directory with it, so the worker's temp directory (TMPDIR, the
// test's own) is left empty without any other lockstep process running there.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { lockstep } from '../support/cli.js';
import { sleep } from '../support/crash-sequence.js';
import type { Service } from '../support/kafka-log.js';
import { startService } from '../support/kafka-log.js';

const brokers = inject('kafkaBrokers');
const prefix = `attempt-dirs-${randomUUID().slice(0, 8)}`;
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-attempt-dirs-kafka-'));
const services: Service[] = [];
afterAll(async () => {
  await Promise.all(services.map((s) => s.stop('SIGKILL')));
  rmSync(scratch, { recursive: true, force: true });
});

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('the attempt directory of a SIGKILLed Kafka worker', () => {
  it('is removed by the lifeline once it has stopped the task', async () => {
    const machines = join(scratch, 'machines');
    const temp = join(scratch, 'tmp');
    mkdirSync(machines);
    mkdirSync(temp);
    const log = join(scratch, 'log');
    writeFileSync(
      join(machines, 'nap.yaml'),
      [
        'name: nap',
        'version: 1',
        'tasks:',
        '  - id: nap',
        `    run: echo "$(dirname "$LOCKSTEP_INPUT_FILE")" >> ${log}; sleep 30`,
        '',
      ].join('\n'),
    );
    const env = { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix };
    const created = await lockstep(['topics', 'create', '--partitions', '1', '--sequences', machines], { env });
    expect(created.code, created.stderr).toBe(0);
    const orchestrator = startService('orchestrator', ['orchestrator', '--sequences', machines], env);
    const worker = startService('worker', ['worker', '--sequences', machines], { ...env, TMPDIR: temp });
    services.push(orchestrator, worker);
    await Promise.all(services.map((s) => s.ready));
    const started = await lockstep(['start', 'nap'], { env });
    expect(started.code, started.stderr).toBe(0);

    await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('\n'), 'the task to start');
    const attemptDir = readFileSync(log, 'utf8').trim();
    expect(attemptDir.startsWith(`${temp}/lockstep-attempts-`)).toBe(true);
    expect(existsSync(attemptDir)).toBe(true);
    await worker.stop('SIGKILL');
    // The lifeline waits out the kill grace (5 s) before it removes the directory and SIGKILLs what is left.
    await until(() => readdirSync(temp).length === 0, 'the temp directory to be empty', 20_000);
    expect(existsSync(attemptDir)).toBe(false);
  }, 90_000);
});
