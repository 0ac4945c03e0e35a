import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import { sha256Hex } from '../../src/core/hash.js';
import { jsonLines, lockstep, ROOT } from '../support/cli.js';
import { CraftedHistory } from '../support/crafted-history.js';
import { killOrphans, readLog, sleep, spawnCli, writeCrashSequence } from '../support/crash-sequence.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-check-history-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// `lockstep check-history --store`: real runs of every example (and one killed and resumed) check clean; a run
// whose history applied one completion twice fails the check with exit code 1 and a message that names it.

const dir = mkdtempSync(join(scratch, 'check-history-'));
const store = join(dir, 'runs.db');
const machine = (name: string) => join(ROOT, 'machines', `${name}.yaml`);

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('lockstep check-history --store', () => {
  it('real runs check clean, a killed and resumed one included; a double advancement exits 1', async () => {
    for (const name of ['hello', 'compensation', 'continue-on-failure', 'cleanup-always', 'retry-backoff']) {
      const run = await lockstep(['run', machine(name), '--store', store, '-q']);
      expect([0, 1], run.stderr).toContain(run.code);
    }
    // A run killed in the middle of a task, then resumed.
    const crash = writeCrashSequence(dir);
    const log = join(dir, 'crash.log');
    const env = { CRASH_LOG: log, CRASH_HOLD: 't3' };
    const killed = spawnCli(['run', crash, '--json', '--store', store], env, dir);
    await waitFor(() => readLog(log).some((l) => l.kind === 'start' && l.task === 't3'), 't3 to start');
    killed.child.kill('SIGKILL');
    const { stdout } = await killed.done;
    killOrphans(readLog(log));
    const runId = jsonLines(stdout)[0]!.runId as string;

    // Killed and not resumed: its process died, so the run is unfinished.
    const before = await lockstep(['check-history', '--store', store]);
    expect(before.code, before.stdout).toBe(1);
    expect(before.stdout).toContain(`VIOLATION unfinished run ${runId}: run ${runId} of crash v1 never ended`);
    const resumed = await spawnCli(['resume', runId, '--store', store, '-q'], env, dir).done;
    expect(resumed.code, resumed.stderr).toBe(0);

    const clean = await lockstep(['check-history', '--store', store]);
    expect(clean.stderr).toBe('');
    expect(clean.code, clean.stdout).toBe(0);
    expect(clean.stdout.split('\n')).toEqual([
      `checked 6 runs in ${store}: 6 finished, 0 waiting`,
      'lost runs 0, order 0, overlapping attempts 0, duplicate advancements 0, finally 0, compensation 0, unfinished 0',
      'OK: no violations',
      '',
    ]);
    const json = JSON.parse((await lockstep(['check-history', '--store', store, '--json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ source: store, runs: 6, finished: 6, waiting: 0, violations: [], withoutSequence: [] });

    // A run whose history applied greet's completion twice, written through the store as any run is.
    const text = readFileSync(machine('hello'), 'utf8');
    const bad = new CraftedHistory('bad-1', 'hello').start('greet').ok('greet').ok('greet').start('count').ok('count');
    bad.start('goodbye').ok('goodbye').end('succeeded');
    const db = SqliteRunStore.open(store, { create: false });
    await db.create(
      {
        runId: 'bad-1',
        sequence: 'hello',
        version: '1',
        definition: text,
        definitionHash: sha256Hex(text),
        input: null,
        status: 'succeeded',
        createdAt: bad.entries[0]!.at,
        updatedAt: bad.entries.at(-1)!.at,
      },
      bad.entries,
    );
    await db.close();
    const caught = await lockstep(['check-history', '--store', store]);
    expect(caught.code).toBe(1);
    expect(caught.stdout).toContain('duplicate advancements 1,');
    expect(caught.stdout).toContain(
      'VIOLATION duplicate-advancement run bad-1: task.succeeded at entry 3: greet#1 (main) already had its outcome recorded at entry 2',
    );
    expect(caught.stdout).toContain('FAIL: 1 violations');
  }, 120_000);

  it('without a store it exits 3; --prefix without --brokers is invalid usage (2)', async () => {
    const missing = await lockstep(['check-history', '--store', join(dir, 'none.db')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`no run store at ${join(dir, 'none.db')}`);
    const usage = await lockstep(['check-history', '--prefix', 'x']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--prefix reads Kafka topics: it needs --brokers');
  });
});
