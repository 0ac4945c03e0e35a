// Process groups of shell attempts, with real processes: what tells an attempt's group from a reused pid, how a
// surviving group is stopped, and that the embedded runtime records each group only while its attempt runs.

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../../src/adapters/memory/memory-run-store.js';
import type { OrphanNotice } from '../../../src/adapters/process/orphaned-attempts.js';
import { groupState, stopOrphanedAttempts } from '../../../src/adapters/process/orphaned-attempts.js';
import { bootId, groupMembers, procStat } from '../../../src/adapters/process/process-identity.js';
import { loadSequenceText } from '../../../src/core/sequence/validate.js';
import { createEmbeddedRuntime } from '../../../src/modes/embedded/embedded-runtime.js';
import type { AttemptProcess } from '../../../src/ports/attempt-processes.js';
import { record } from '../../contract/run-store.contract.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const started: ChildProcess[] = [];

/** Starts `script` as the leader of a process group of its own, as a shell task runs. */
function group(script: string): ChildProcess {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  started.push(child);
  return child;
}

function recordOf(child: ChildProcess, overrides: Partial<AttemptProcess> = {}): AttemptProcess {
  return {
    runId: 'run-x',
    task: 'build',
    attempt: 1,
    pgid: child.pid!,
    startTime: procStat(child.pid!)!.start,
    bootId: bootId(),
    host: hostname(),
    startedAt: Date.now(),
    ...overrides,
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

afterEach(() => {
  for (const child of started.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

describe('groupState', () => {
  it('tells a running group, a reused pid, another boot, another host and a gone group apart', async () => {
    const child = group('sleep 30');
    const mine = recordOf(child);
    expect(groupState(mine)).toBe('running');
    expect(groupState({ ...mine, startTime: String(BigInt(mine.startTime!) + 1n) })).toBe('reused');
    expect(groupState({ ...mine, bootId: '00000000-0000-0000-0000-000000000000' })).toBe('gone');
    expect(groupState({ ...mine, host: `not-${hostname()}` })).toBe('unchecked');
    expect(groupState({ ...mine, startTime: null })).toBe('unchecked');
    process.kill(-child.pid!, 'SIGKILL');
    await until(() => groupState(mine) === 'gone', 'the group to be gone');
  });

  it('never takes a record naming group 0 or 1 for a running group (a kill of -1 would signal every process)', () => {
    const init = procStat(1)!;
    for (const pgid of [1, 0, -5, 1.5]) {
      expect(
        groupState({ runId: 'r', task: 't', attempt: 1, pgid, startTime: init.start, bootId: bootId(), host: hostname(), startedAt: 0 }),
      ).toBe('unchecked');
    }
  });

  it('counts a group whose leader has exited as running while a process of it is left', async () => {
    // The shell exits at once; its background `sleep` stays in the group.
    const child = group('sleep 30 & exit 0');
    const mine = recordOf(child);
    await until(() => procStat(child.pid!) === null, 'the leader to be reaped');
    expect(groupMembers(child.pid!)).toHaveLength(1);
    expect(groupState(mine)).toBe('running');
    // Members that started before the recorded leader cannot be its group's.
    expect(groupState({ ...mine, startTime: String(BigInt(groupMembers(child.pid!)[0]!.stat.start) + 1n) })).toBe('reused');
  });
});

describe('stopOrphanedAttempts', () => {
  it('stops a leaderless group too, clears every record, and leaves a reused pid alone', async () => {
    const store = new MemoryRunStore();
    const r = record();
    await store.create(r, []);
    const leaderless = group('sleep 30 & exit 0');
    const unrelated = group('sleep 30');
    await store.recordAttemptProcess({ ...recordOf(leaderless), runId: r.runId, attempt: 1 });
    await store.recordAttemptProcess({ ...recordOf(unrelated), runId: r.runId, attempt: 2, startTime: '1' });
    await until(() => procStat(leaderless.pid!) === null, 'the leader to be reaped');
    const notices: OrphanNotice[] = [];
    await stopOrphanedAttempts(store, r.runId, { graceMs: 2_000, onNotice: (n) => notices.push(n) });
    expect(notices.map((n) => [n.process.attempt, n.outcome, n.signal])).toEqual([
      [1, 'stopped', 'SIGTERM'],
      [2, 'reused', undefined],
    ]);
    expect(groupMembers(leaderless.pid!)).toEqual([]);
    expect(procStat(unrelated.pid!)?.state).not.toBe('Z');
    expect(await store.attemptProcesses(r.runId)).toEqual([]);
  });
});

describe('the embedded runtime', () => {
  it("records a shell attempt's group while it runs, and clears it once the attempt ended, whatever its outcome", async () => {
    const store = new MemoryRunStore();
    const runtime = await createEmbeddedRuntime({ store });
    try {
      const sequence = loadSequenceText(
        [
          'name: tracked',
          'tasks:',
          '  - id: work',
          '    run: "sleep 0.3"',
          '  - id: fails',
          '    run: "sleep 0.3; exit 3"',
          '    retry: { maxAttempts: 2, backoff: { initial: 10ms } }',
          '',
        ].join('\n'),
      );
      runtime.register(sequence);
      const runId = await runtime.start({ sequence: 'tracked' });
      const seen = new Map<string, AttemptProcess>();
      const final = runtime.orchestrator.waitFor(runId);
      let done = false;
      void final.then(() => (done = true));
      while (!done) {
        for (const p of await store.attemptProcesses(runId)) {
          if (!seen.has(`${p.task}#${p.attempt}`)) {
            seen.set(`${p.task}#${p.attempt}`, p);
            // The record names the attempt's running shell, which leads its own group.
            expect(procStat(p.pgid)).toMatchObject({ pgrp: p.pgid, start: p.startTime });
          }
        }
        await sleep(20);
      }
      expect((await final).outcome).toBe('failed');
      expect([...seen.keys()]).toEqual(['work#1', 'fails#1', 'fails#2']);
      expect([...seen.values()].every((p) => p.bootId === bootId() && p.host === hostname())).toBe(true);
      expect(await store.attemptProcesses(runId)).toEqual([]);
    } finally {
      await runtime.close();
    }
  });
});
