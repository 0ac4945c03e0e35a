// `lockstep runs` and `show` over a store with runs at a wait task, driven by real `lockstep run` processes: a run
// waiting for a signal (48 h timeout), a delay (2 h) and a plain running task are told apart, and a SIGKILLed
// waiting run shows as interrupted, not waiting.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../support/cli.js';
import type { Spawned } from '../support/crash-sequence.js';
import { sleep, spawnCli } from '../support/crash-sequence.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'lockstep-waiting-'));
const store = join(dir, 'runs.db');
const spawned: Spawned[] = [];

function write(name: string, lines: string[]): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, [`name: ${name}`, 'version: 1', 'tasks:', ...lines, ''].join('\n'));
  return path;
}

const sequences = {
  approval: write('approval', [
    '  - id: build',
    '    run: echo built',
    '  - id: approve',
    '    wait: { signal: true }',
    '    timeout: 48h',
    '  - id: deploy',
    '    run: echo deployed',
  ]),
  remind: write('remind', ['  - id: pause', '    wait: { duration: 2h }', '  - id: ping', '    run: echo ping']),
  forever: write('forever', ['  - id: approve', '    wait: { signal: true }', '    timeout: never']),
  busy: write('busy', ['  - id: work', '    run: sleep 60']),
};

type Row = Record<string, any>;
const runs = async (...args: string[]) => {
  const res = await lockstep(['runs', '--store', store, ...args]);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout;
};
const rows = async (...args: string[]) => jsonLines(await runs('--json', ...args)) as Row[];

/** The listed runs, or none while the first run has not created the store yet. */
const listedSoFar = async () => {
  const res = await lockstep(['runs', '--store', store, '--json', '--limit', '100']);
  return res.code === 0 ? (jsonLines(res.stdout) as Row[]) : [];
};

/** Starts `lockstep run` of a sequence and waits until the store lists it with `status`. */
async function started(sequence: keyof typeof sequences, status: string): Promise<{ runId: string; run: Spawned }> {
  const before = new Set((await listedSoFar()).map((r) => r.runId));
  const run = spawnCli(['run', sequences[sequence], '--store', store, '--json'], {}, dir);
  spawned.push(run);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const row = (await listedSoFar()).find((r) => !before.has(r.runId) && r.sequence === sequence);
    if (row?.status === status) return { runId: row.runId, run };
    if (Date.now() > deadline) throw new Error(`run of ${sequence} never listed ${status}: ${JSON.stringify(row)}`);
    await sleep(100);
  }
}

let approval: { runId: string; run: Spawned };
let remind: { runId: string; run: Spawned };
let forever: { runId: string; run: Spawned };
let busy: { runId: string; run: Spawned };

beforeAll(async () => {
  // One after the other: each start creates the store's tables if they are missing.
  approval = await started('approval', 'waiting');
  remind = await started('remind', 'waiting');
  forever = await started('forever', 'waiting');
  busy = await started('busy', 'running');
}, 120_000);

afterAll(async () => {
  for (const s of spawned) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  await Promise.all(spawned.map((s) => s.done));
  rmSync(dir, { recursive: true, force: true });
});

describe('lockstep runs with waiting runs', () => {
  it('lists each wait with what it waits for, since when and until when', async () => {
    const listed = await rows();
    const of = (runId: string) => listed.find((r) => r.runId === runId)!;
    expect(of(approval.runId)).toMatchObject({ status: 'waiting', task: 'approve', waiting: { task: 'approve', for: 'signal' } });
    expect(of(approval.runId).waiting.until - of(approval.runId).waiting.since).toBe(48 * HOUR);
    expect(of(remind.runId)).toMatchObject({ status: 'waiting', waiting: { task: 'pause', for: 'time' } });
    expect(of(remind.runId).waiting.until - of(remind.runId).waiting.since).toBe(2 * HOUR);
    expect(of(forever.runId).waiting).toEqual({ task: 'approve', for: 'signal', since: expect.any(Number) });
    expect(of(busy.runId)).toMatchObject({ status: 'running', task: 'work' });
    expect(of(busy.runId).waiting).toBeUndefined();

    const table = await runs();
    const stamp = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d';
    expect(table).toMatch(
      new RegExp(`${approval.runId}\\s+approval v1\\s+waiting\\s+.*waiting for approve since ${stamp}, expires ${stamp}`),
    );
    expect(table).toMatch(new RegExp(`${remind.runId}\\s+remind v1\\s+waiting\\s+.*waiting for pause since ${stamp}, due ${stamp}`));
    expect(table).toMatch(new RegExp(`${forever.runId}\\s+forever v1\\s+waiting\\s+.*waiting for approve since ${stamp}, no expiry`));
    expect(table).toMatch(new RegExp(`${busy.runId}\\s+busy v1\\s+running\\s+.*at work`));
  });

  it('filters by waiting and by running, each listing exactly the runs shown with it', async () => {
    expect((await rows('--status', 'waiting')).map((r) => r.runId).sort()).toEqual([approval.runId, remind.runId, forever.runId].sort());
    expect((await rows('--status', 'waiting', '--limit', '2')).map((r) => r.runId)).toEqual([forever.runId, remind.runId]);
    expect((await rows('--status', 'running')).map((r) => r.runId)).toEqual([busy.runId]);
    const help = await lockstep(['runs', '--status', 'paused', '--store', store]);
    expect(help.code).toBe(2);
    expect(help.stderr).toContain('--status: expected one of running, waiting, interrupted, succeeded, failed, cancelled, got "paused"');
  });

  it('shows the wait in lockstep show, and in show --json', async () => {
    const shown = await lockstep(['show', approval.runId, '--store', store]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.split('\n')[0]).toMatch(
      new RegExp(`^run ${approval.runId} of approval v1: waiting \\(for approve since .+, expires .+\\)$`),
    );
    expect(shown.stdout).toContain('… approve waiting for a signal, expires ');
    const json = JSON.parse((await lockstep(['show', approval.runId, '--json', '--store', store])).stdout) as Row;
    expect(json.run).toMatchObject({ status: 'waiting', waiting: { task: 'approve', for: 'signal' } });
  });

  it('shows a waiting run whose process was killed as interrupted, with the wait it was in', async () => {
    approval.run.child.kill('SIGKILL');
    await approval.run.done;
    const listed = (await rows()).find((r) => r.runId === approval.runId)!;
    expect(listed.status).toBe('interrupted');
    expect((await rows('--status', 'waiting')).map((r) => r.runId)).not.toContain(approval.runId);
    expect((await rows('--status', 'interrupted')).map((r) => r.runId)).toEqual([approval.runId]);
    const shown = await lockstep(['show', approval.runId, '--store', store]);
    expect(shown.stdout.split('\n')[0]).toContain(': interrupted (no live process drives it');
    expect(shown.stdout).toMatch(/\n {2}wait {8}waiting for approve since .+, expires .+\n/);
  });
});
