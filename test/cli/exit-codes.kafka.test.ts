// Each exit code of the `lockstep` command, through the real CLI: one meaning each (README, "Exit codes").
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { BIN, jsonLines, lockstep } from '../support/cli.js';
import { killOrphans, readLog, sleep, spawnCli, writeCrashSequence } from '../support/crash-sequence.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-exit-codes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const temp = (prefix: string) => mkdtempSync(join(scratch, `${prefix}-`));

describe('exit codes', () => {
  it('2: invalid usage, an unknown run; 3: a missing store', async () => {
    const dir = temp('exit-store');
    const store = join(dir, 'runs.db');
    expect((await lockstep(['run', 'machines/hello.yaml', '--json', '--store', store])).code).toBe(0);
    const unknown = await lockstep(['resume', 'nope', '--store', store]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('(UNKNOWN_RUN)');
    expect((await lockstep(['runs', '--limit', 'x', '--store', store])).code).toBe(2);
    const missing = await lockstep(['runs', '--store', join(dir, 'none', 'lockstep.db')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('(STORE_MISSING)');
  });

  it('5: resume of a finished run (RUN_NOT_RESUMABLE), and rerun of one that has not ended (RUN_ACTIVE)', async () => {
    const dir = temp('exit-state');
    const store = join(dir, 'runs.db');
    const done = await lockstep(['run', 'machines/hello.yaml', '--json', '--store', store]);
    const runId = jsonLines(done.stdout)[0]!.runId as string;
    const resumed = await lockstep(['resume', runId, '--store', store]);
    expect(resumed.code).toBe(5);
    expect(resumed.stderr).toContain(`run ${runId} already ended: succeeded; nothing to resume`);
    expect(resumed.stderr).toContain('(RUN_NOT_RESUMABLE)');

    // A run whose process was killed has not ended: it can be resumed, not rerun.
    const sequence = writeCrashSequence(dir);
    const log = join(dir, 'log');
    const env = { CRASH_LOG: log, CRASH_HOLD: 't1' };
    const run = spawnCli(['run', sequence, '--json', '--store', store], env, dir);
    while (!readLog(log).some((l) => l.kind === 'start')) await sleep(5);
    run.child.kill('SIGKILL');
    const killed = await run.done;
    killOrphans(readLog(log));
    const killedId = jsonLines(killed.stdout)[0]!.runId as string;
    const rerun = await lockstep(['rerun', killedId, '--store', store]);
    expect(rerun.code).toBe(5);
    expect(rerun.stderr).toContain(`its process is gone: continue it with \`lockstep resume ${killedId}\``);
    expect(rerun.stderr).toContain('(RUN_ACTIVE)');
  });

  describe('Kafka', () => {
    const brokers = inject('kafkaBrokers');

    it('6: start --wait --timeout runs out (WAIT_TIMEOUT) while no orchestrator runs; the run is not lost', async () => {
      const prefix = `exit-${randomUUID().slice(0, 8)}`;
      const machines = temp('exit-kafka');
      writeFileSync(join(machines, 'greet.yaml'), 'name: greet\nversion: 1\ntasks:\n  - id: hello\n    run: echo hi\n');
      const env = { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix };
      const created = await lockstep(['topics', 'create', '--partitions', '1', '--sequences', machines], { env });
      expect(created.code, created.stderr).toBe(0);
      const t0 = Date.now();
      const waited = await lockstep(['start', 'greet', '--wait', '--timeout', '1'], { env });
      expect(waited.code, waited.stderr).toBe(6);
      expect(waited.stderr).toMatch(
        /gave up waiting for run [0-9a-f-]{36}: it did not end within 1 ms; the run goes on .*\(WAIT_TIMEOUT\)/,
      );
      expect(Date.now() - t0).toBeLessThan(20_000);
    }, 30_000);

    it('6: start --wait --timeout runs out on a run that cannot finish (its queue has no worker), not 3 or 7', async () => {
      const prefix = `exit-stuck-${randomUUID().slice(0, 8)}`;
      const machines = temp('exit-stuck');
      writeFileSync(join(machines, 'stuck.yaml'), 'name: stuck\nversion: 1\ntasks:\n  - id: wait-for-nobody\n    queue: nobody\n');
      const env = { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix };
      const created = await lockstep(['topics', 'create', '--partitions', '1', '--sequences', machines], { env });
      expect(created.code, created.stderr).toBe(0);
      const orchestrator = spawn(process.execPath, [BIN, 'orchestrator', '--sequences', machines], {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
      try {
        for (const timeout of ['1', '3000']) {
          const runId = randomUUID();
          const waited = await lockstep(['start', 'stuck', '--wait', '--timeout', timeout, '--run-id', runId], { env });
          expect(waited.code, waited.stderr).toBe(6);
          expect(waited.stderr).toContain(`gave up waiting for run ${runId}: it did not end within ${timeout} ms`);
          expect(waited.stderr).toContain('(WAIT_TIMEOUT)');
        }
      } finally {
        orchestrator.kill('SIGKILL');
      }
    }, 90_000);

    it('7: the topics are missing (TRANSPORT_UNAVAILABLE)', async () => {
      const prefix = `exit-none-${randomUUID().slice(0, 8)}`;
      const status = await lockstep(['status', randomUUID()], { env: { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix } });
      expect(status.code, status.stderr).toBe(7);
      expect(status.stderr).toContain(`topic ${prefix}.runs does not exist`);
      expect(status.stderr).toContain('(TRANSPORT_UNAVAILABLE)');
      const orchestrator = await lockstep(['orchestrator', '--sequences', 'machines'], {
        env: { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix },
      });
      expect(orchestrator.code, orchestrator.stderr).toBe(7);
      expect(orchestrator.stderr).toContain(`missing topics ${prefix}.`);
    }, 60_000);

    it('2: start with a --timeout that is not a number starts nothing', async () => {
      const prefix = `exit-opt-${randomUUID().slice(0, 8)}`;
      const runId = randomUUID();
      const bad = await lockstep(['start', 'hello', '--wait', '--timeout', '100ms', '--run-id', runId], {
        env: { KAFKA_BROKERS: brokers, LOCKSTEP_TOPIC_PREFIX: prefix },
      });
      expect(bad.code, bad.stderr).toBe(2);
      expect(bad.stderr).not.toContain('started');
      expect(bad.stdout).toBe('');
    }, 30_000);
  });
});
