// SIGKILL `lockstep run` while a 4 s shell task runs: the task's process group lives on. `lockstep resume`, run at
// once, stops it (SIGTERM, the kill grace, SIGKILL) and waits until it is gone before the task's next attempt
// starts. Each attempt writes its own timestamps (ns since the epoch) to a log; they show the attempts never
// overlap. A recorded pid that now belongs to an unrelated process is never signalled.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { groupMembers, procStat } from '../../src/adapters/process/process-identity.js';
import { SqliteRunStore } from '../../src/adapters/sqlite/sqlite-run-store.js';
import type { AttemptProcess } from '../../src/ports/attempt-processes.js';
import { jsonLines } from '../support/cli.js';
import { sleep, spawnCli } from '../support/crash-sequence.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-orphaned-attempts-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * One task, `build`, that logs `start <attempt> <pid> <ns>`, works 4 s, then logs `end <attempt> <ns>`. On SIGTERM
 * it logs `term`, takes a second to clean up, logs `exit` and exits. Attempt 1 may work until it is stopped
 * instead, logging `beat <attempt> <ns>` every 0.1 s: with $ORPHAN_UNTIL_STOPPED, or with $ORPHAN_STUBBORN, which
 * also ignores SIGTERM. Its stderr goes to a file: once lockstep is dead, a write to the broken pipe (dash reports
 * the killed \`sleep\` there) would end the shell by SIGPIPE before its cleanup.
 */
const SCRIPT = `
exec 2>>"$ORPHAN_LOG.stderr"
stamp() { echo "$1 $LOCKSTEP_ATTEMPT $(date +%s%N)" >> "$ORPHAN_LOG"; }
echo "start $LOCKSTEP_ATTEMPT $$ $(date +%s%N)" >> "$ORPHAN_LOG"
beat() { while :; do stamp beat; sleep 0.1; done; }
if [ "$LOCKSTEP_ATTEMPT" = 1 ] && [ -n "$ORPHAN_STUBBORN" ]; then trap '' TERM; beat; fi
trap 'stamp term; sleep 1; stamp exit; exit 143' TERM
if [ "$LOCKSTEP_ATTEMPT" = 1 ] && [ -n "$ORPHAN_UNTIL_STOPPED" ]; then beat; fi
sleep 4
stamp end
`;

function writeSequence(dir: string): string {
  const path = join(dir, 'orphans.yaml');
  writeFileSync(
    path,
    [
      'name: orphans',
      'tasks:',
      '  - id: build',
      '    run: |',
      ...SCRIPT.trim()
        .split('\n')
        .map((l) => `      ${l}`),
      '',
    ].join('\n'),
  );
  return path;
}

interface Stamp {
  readonly what: string;
  readonly attempt: number;
  readonly pid?: number;
  readonly ns: bigint;
}

function readStamps(log: string): Stamp[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const parts = line.split(' ');
      const [what, attempt] = parts as [string, string];
      return { what, attempt: Number(attempt), ...(what === 'start' ? { pid: Number(parts[2]) } : {}), ns: BigInt(parts.at(-1)!) };
    });
}

const one = (stamps: readonly Stamp[], what: string, attempt: number) => {
  const found = stamps.filter((s) => s.what === what && s.attempt === attempt);
  expect(found, `${what} of attempt ${attempt}`).toHaveLength(1);
  return found[0]!;
};

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function attemptProcesses(storeFile: string, runId: string): Promise<AttemptProcess[]> {
  const store = SqliteRunStore.open(storeFile, { create: false });
  try {
    return await store.attemptProcesses(runId);
  } finally {
    await store.close();
  }
}

/**
 * Starts `lockstep run`, waits until attempt 1 of `build` has started, then SIGKILLs lockstep. With `resume`, the
 * resume is spawned in the same instant, so that it acts while the 4 s attempt still runs even on a busy machine.
 */
async function killDuringBuild(dir: string, env: Record<string, string>, log: string, resume?: readonly string[]) {
  const storeFile = join(dir, 'lockstep.db');
  const run = spawnCli(['run', writeSequence(dir), '--json', '--store', storeFile], env, dir);
  let stdout = '';
  run.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  await until(() => readStamps(log).some((s) => s.what === 'start'), 'attempt 1 to start');
  const runId = jsonLines(stdout)[0]?.runId as string;
  const pgid = one(readStamps(log), 'start', 1).pid!;
  // Recorded as the attempt started, with the leader's start time.
  const recorded = await attemptProcesses(storeFile, runId);
  const resumed = resume && spawnCli(['resume', runId, '--store', storeFile, ...resume], env, dir).done;
  run.child.kill('SIGKILL');
  const killed = await run.done;
  expect(killed.signal).toBe('SIGKILL');
  return { runId, pgid, storeFile, recorded, resumed };
}

describe('an attempt orphaned by a killed lockstep run', () => {
  it('killed during a 4 s task and resumed at once: the two attempts never overlap', async () => {
    const dir = mkdtempSync(join(scratch, 'orphan-'));
    const log = join(dir, 'log');
    const { runId, pgid, storeFile, recorded, resumed: resuming } = await killDuringBuild(dir, { ORPHAN_LOG: log }, log, ['--json']);
    expect(recorded).toMatchObject([{ runId, task: 'build', attempt: 1, pgid, startTime: procStat(pgid)!.start }]);
    expect(recorded[0]!.bootId).toMatch(/^[0-9a-f-]{36}$/);
    const resumed = (await resuming)!;
    expect(resumed.code).toBe(0);
    expect(jsonLines(resumed.stdout).map((e) => `${e.type as string}${'attempt' in e ? ` ${e.attempt as number}` : ''}`)).toEqual([
      'task.interrupted 1',
      'task.started 2',
      'task.succeeded 2',
      'run.succeeded',
    ]);
    const stamps = readStamps(log);
    const start2 = one(stamps, 'start', 2);
    one(stamps, 'end', 2);
    // Whatever attempt 1 got to log (its end if it finished before the resume acted, else its SIGTERM cleanup)
    // precedes attempt 2's start.
    const attempt1 = stamps.filter((s) => s.attempt === 1);
    for (const s of attempt1) expect(s.ns, `${s.what} 1`).toBeLessThan(start2.ns);
    const stopped = resumed.stderr !== '';
    if (stopped) {
      expect(resumed.stderr).toBe(`lockstep: stopped orphaned attempt 1 of "build" (process group ${pgid}) with SIGTERM\n`);
      expect(attempt1.map((s) => s.what)).toEqual(['start', 'term', 'exit']);
    } else expect(attempt1.map((s) => s.what)).toEqual(['start', 'end']);
    const last1 = attempt1.at(-1)!;
    console.log(
      `[orphans] attempt 1 ${stopped ? 'was stopped' : 'had ended before the resume acted'}; its last stamp (${last1.what}) came ${(Number(start2.ns - last1.ns) / 1e6).toFixed(1)} ms before attempt 2 started`,
    );
    expect(groupMembers(pgid)).toEqual([]);
    expect(await attemptProcesses(storeFile, runId)).toEqual([]);
  });

  it('resume stops it with SIGTERM, waits out its cleanup, and only then runs attempt 2', async () => {
    const dir = mkdtempSync(join(scratch, 'orphan-term-'));
    const log = join(dir, 'log');
    const env = { ORPHAN_LOG: log, ORPHAN_UNTIL_STOPPED: '1' };
    const { runId, pgid, storeFile, resumed: resuming } = await killDuringBuild(dir, env, log, ['--json']);
    const resumed = (await resuming)!;
    expect(resumed.stderr).toBe(`lockstep: stopped orphaned attempt 1 of "build" (process group ${pgid}) with SIGTERM\n`);
    expect(resumed.code).toBe(0);
    expect(jsonLines(resumed.stdout).slice(0, 2)).toMatchObject([
      { type: 'task.interrupted', task: 'build', attempt: 1 },
      { type: 'task.started', task: 'build', attempt: 2 },
    ]);
    const stamps = readStamps(log);
    expect(stamps.filter((s) => s.what !== 'beat').map((s) => `${s.what} ${s.attempt}`)).toEqual([
      'start 1',
      'term 1',
      'exit 1',
      'start 2',
      'end 2',
    ]);
    const [term1, exit1, start2] = [one(stamps, 'term', 1), one(stamps, 'exit', 1), one(stamps, 'start', 2)];
    // Its cleanup took a second, and attempt 2 started only after it exited.
    expect(Number(exit1.ns - term1.ns) / 1e6).toBeGreaterThanOrEqual(900);
    expect(start2.ns).toBeGreaterThan(exit1.ns);
    expect(stamps.filter((s) => s.what === 'beat').at(-1)!.ns).toBeLessThan(term1.ns);
    console.log(`[orphans] attempt 1 exited ${(Number(start2.ns - exit1.ns) / 1e6).toFixed(1)} ms before attempt 2 started`);
    expect(groupMembers(pgid)).toEqual([]);
    expect(await attemptProcesses(storeFile, runId)).toEqual([]);
  });

  it('resume kills one that ignores SIGTERM once the kill grace is over, and says so', async () => {
    const dir = mkdtempSync(join(scratch, 'orphan-stubborn-'));
    const log = join(dir, 'log');
    const env = { ORPHAN_LOG: log, ORPHAN_STUBBORN: '1' };
    const { runId, pgid, storeFile } = await killDuringBuild(dir, env, log);
    expect(groupMembers(pgid).length).toBeGreaterThan(0);
    const resumed = await spawnCli(['resume', runId, '--store', storeFile, '--quiet'], env, dir).done;
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const lines = resumed.stdout.split('\n');
    const stopped = lines.indexOf(`  ■ stopped orphaned attempt 1 of "build" (process group ${pgid}) with SIGKILL`);
    expect(stopped).toBeGreaterThan(0);
    expect(lines[stopped + 1]).toBe('  ↻ build attempt 1 was interrupted; it runs again');

    const stamps = readStamps(log);
    const beats = stamps.filter((s) => s.what === 'beat' && s.attempt === 1);
    const start2 = one(stamps, 'start', 2);
    expect(stamps.filter((s) => s.attempt === 1).map((s) => s.what)).not.toContain('end');
    // It kept beating through the 5 s grace after SIGTERM, and not once after attempt 2 started.
    expect(Number(start2.ns - one(stamps, 'start', 1).ns) / 1e6).toBeGreaterThanOrEqual(5_000);
    expect(beats.length).toBeGreaterThan(30);
    expect(beats.at(-1)!.ns).toBeLessThan(start2.ns);
    one(stamps, 'end', 2);
    expect(groupMembers(pgid)).toEqual([]);
  });

  it('resume leaves alone a process that now has the recorded pid but started at another time', async () => {
    const dir = mkdtempSync(join(scratch, 'orphan-reused-'));
    const log = join(dir, 'log');
    const { runId, pgid, storeFile } = await killDuringBuild(dir, { ORPHAN_LOG: log }, log);
    expect(groupMembers(pgid).length).toBeGreaterThan(0);
    // The orphan ends on its own; an unrelated process leads a group under the pid its record names, as if the
    // pid had been given out again.
    process.kill(-pgid, 'SIGKILL');
    await until(() => groupMembers(pgid).length === 0, 'the orphan to be gone');
    const decoy = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    try {
      const decoyStart = procStat(decoy.pid!)!.start;
      const store = SqliteRunStore.open(storeFile, { create: false });
      const [record] = await store.attemptProcesses(runId);
      await store.recordAttemptProcess({ ...record!, pgid: decoy.pid!, startTime: String(BigInt(decoyStart) - 100n) });
      await store.close();

      const resumed = await spawnCli(['resume', runId, '--store', storeFile, '--quiet'], { ORPHAN_LOG: log }, dir).done;
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toContain(
        `  ■ left attempt 1 of "build" (process group ${decoy.pid}) alone: its process ended, and pid ${decoy.pid} now belongs to another process\n`,
      );
      // Not signalled: still running, with the same start time.
      expect(decoy.exitCode).toBeNull();
      expect(decoy.signalCode).toBeNull();
      expect(procStat(decoy.pid!)).toMatchObject({ state: expect.not.stringMatching(/^[ZX]$/), start: decoyStart });
      expect(await attemptProcesses(storeFile, runId)).toEqual([]);
    } finally {
      decoy.kill('SIGKILL');
    }
  });
});
