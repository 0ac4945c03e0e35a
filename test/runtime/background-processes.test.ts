// What happens to a shell task's background processes: they belong to its attempt. One that keeps the task's
// output open keeps the attempt running; whatever is left of the group when the shell has exited is killed, also
// when the task succeeds. Real shell tasks through the embedded runtime.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exited, procStat } from '../../src/adapters/process/process-identity.js';
import type { RunEntry } from '../../src/core/protocol/run-entry.js';
import { loadSequenceText } from '../../src/core/sequence/validate.js';
import { createEmbeddedRuntime } from '../../src/modes/embedded/embedded-runtime.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-background-processes-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function runTask(run: string): Promise<Extract<RunEntry, { type: 'task.succeeded' }>> {
  const entries: RunEntry[] = [];
  const runtime = await createEmbeddedRuntime({ onEntry: (e) => entries.push(e) });
  try {
    runtime.register(loadSequenceText(`name: bg\ntasks:\n  - id: work\n    run: ${JSON.stringify(run)}\n`));
    expect((await runtime.run({ sequence: 'bg' })).outcome).toBe('succeeded');
    return entries.find((e) => e.type === 'task.succeeded') as Extract<RunEntry, { type: 'task.succeeded' }>;
  } finally {
    await runtime.close();
  }
}

describe("a shell task's background processes", () => {
  it('are killed with its process group when the task succeeds', async () => {
    const pidFile = join(mkdtempSync(join(scratch, 'bg-')), 'pid');
    const done = await runTask(`sleep 30 >/dev/null 2>&1 & echo $! > ${pidFile}; echo '{"ok":true}'`);
    expect(done.result).toEqual({ ok: true });
    expect(done.durationMs).toBeLessThan(10_000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // Gone, or a zombie waiting to be reaped: either way no longer running. The group got SIGKILL before the run
    // ended, but the kernel ends a process only once it is scheduled again, which a loaded machine can delay; the
    // `sleep 30` it would otherwise be lasts far longer than this wait.
    await expect
      .poll(
        () => {
          const stat = procStat(pid);
          return stat === null || exited(stat);
        },
        { timeout: 5_000 },
      )
      .toBe(true);
  });

  it('keep the attempt running while they hold its output open', async () => {
    const done = await runTask('sleep 1 & echo started');
    expect(done.durationMs).toBeGreaterThanOrEqual(950);
  });
});
