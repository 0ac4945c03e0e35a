import { hostname } from 'node:os';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { AttemptProcess, AttemptProcessTracker } from '../../ports/attempt-processes.js';
import type { RunStore } from '../../ports/run-store.js';
import { bootId, exited, groupMembers, procStat } from './process-identity.js';

/**
 * Where a recorded process group stands now:
 * - `running`: the group of the recorded attempt still has a process;
 * - `gone`: it has none left (or the machine rebooted since);
 * - `reused`: its pid now belongs to an unrelated process (another start time), which is left alone;
 * - `unchecked`: it cannot be checked from here (another host, or no procfs).
 */
export type GroupState = 'running' | 'gone' | 'reused' | 'unchecked';

/** A process group id that names one group: a shell task's is its shell's pid, always above 1. */
const validGroup = (pgid: number): boolean => Number.isSafeInteger(pgid) && pgid > 1;

const ticks = (start: string): bigint => (/^\d+$/.test(start) ? BigInt(start) : -1n);

/**
 * Tells whether a recorded attempt's process group still runs. Its leader (the attempt's shell, whose pid is the
 * group id) is checked by start time and boot id. Once the leader has exited, what is left of the group counts as
 * the attempt's if none of it started before the leader did.
 */
export function groupState(process: AttemptProcess): GroupState {
  // Group 0 is the caller's own and -1 every process: no record naming them may ever lead to a signal.
  if (!validGroup(process.pgid)) return 'unchecked';
  if (process.host !== hostname() || process.startTime === null || process.bootId === null || bootId() === null) return 'unchecked';
  if (process.bootId !== bootId()) return 'gone';
  const leader = procStat(process.pgid);
  if (leader && leader.start !== process.startTime) return 'reused';
  if (leader && !exited(leader)) return 'running';
  const members = groupMembers(process.pgid);
  if (members.length === 0) return 'gone';
  const since = ticks(process.startTime);
  // A zombie leader still holds the group id, so its members are the attempt's; without it, their start times decide.
  return leader || members.every((m) => ticks(m.stat.start) >= since) ? 'running' : 'reused';
}

/** Records each shell attempt's process group in the run store while it runs. */
export function trackAttemptProcesses(store: RunStore): AttemptProcessTracker {
  return {
    started: ({ runId, taskId, attempt }, pgid) =>
      store.recordAttemptProcess({
        runId,
        task: taskId,
        attempt,
        pgid,
        startTime: procStat(pgid)?.start ?? null,
        bootId: bootId(),
        host: hostname(),
        startedAt: Date.now(),
      }),
    ended: ({ runId, taskId, attempt }) => store.clearAttemptProcess(runId, taskId, attempt),
  };
}

/** What `stopOrphanedAttempts` found for one recorded attempt process. */
export interface OrphanNotice {
  readonly process: AttemptProcess;
  /** `stopped`: it ran and was stopped; the other states as in {@link GroupState}. */
  readonly outcome: 'stopped' | Exclude<GroupState, 'running'>;
  /** For `stopped`: the last signal it needed. */
  readonly signal?: 'SIGTERM' | 'SIGKILL';
}

export interface StopOrphansOptions {
  /** Between SIGTERM and SIGKILL. */
  readonly graceMs: number;
  /** How long a group may take to go after SIGKILL before the resume is refused. @default 10000 */
  readonly killWaitMs?: number;
  readonly onNotice?: (notice: OrphanNotice) => void;
}

const POLL_MS = 20;

function signalGroup(process: AttemptProcess, signal: NodeJS.Signals): void {
  if (!validGroup(process.pgid))
    throw new LockstepError(ErrorCode.runNotResumable, `cannot stop ${orphanName(process)}: not a process group of one attempt`);
  try {
    globalThis.process.kill(-process.pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw new LockstepError(
      ErrorCode.runNotResumable,
      `cannot stop ${orphanName(process)}: ${signal} failed (${(error as Error).message}); nothing was resumed`,
    );
  }
}

/** Waits until the group no longer runs; false when `ms` ran out first. */
async function until(process: AttemptProcess, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (groupState(process) !== 'running') return true;
    if (Date.now() >= end) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

const orphanName = (p: AttemptProcess) => `attempt ${p.attempt} of "${p.task}" (process group ${p.pgid})`;

/**
 * Stops the process groups that attempts of a run left running when the process that drove the run died: SIGTERM
 * to the group, then SIGKILL after the grace period, and waits until the group is gone. Only a group whose leader
 * matches the recorded start time and boot id is signalled. Each record is cleared once settled.
 *
 * @throws LockstepError `RUN_NOT_RESUMABLE` when a group cannot be signalled, or is still there after SIGKILL.
 */
export async function stopOrphanedAttempts(store: RunStore, runId: string, options: StopOrphansOptions): Promise<void> {
  for (const process of await store.attemptProcesses(runId)) {
    const state = groupState(process);
    let notice: OrphanNotice;
    if (state !== 'running') notice = { process, outcome: state };
    else {
      signalGroup(process, 'SIGTERM');
      let signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM';
      if (!(await until(process, options.graceMs))) {
        signal = 'SIGKILL';
        signalGroup(process, 'SIGKILL');
        if (!(await until(process, options.killWaitMs ?? 10_000))) {
          throw new LockstepError(
            ErrorCode.runNotResumable,
            `${orphanName(process)} of run ${runId} is still running after SIGKILL; nothing was resumed`,
          );
        }
      }
      notice = { process, outcome: 'stopped', signal };
    }
    await store.clearAttemptProcess(runId, process.task, process.attempt);
    options.onNotice?.(notice);
  }
}

/** The line a resume prints about an orphan, or undefined when there is nothing to say (the group had ended). */
export function describeOrphan(notice: OrphanNotice): string | undefined {
  const name = orphanName(notice.process);
  switch (notice.outcome) {
    case 'stopped':
      return `stopped orphaned ${name} with ${notice.signal}`;
    case 'reused':
      return `left ${name} alone: its process ended, and pid ${notice.process.pgid} now belongs to another process`;
    case 'unchecked':
      if (!validGroup(notice.process.pgid)) return `ignored the record of ${name}: it names no single process group`;
      return notice.process.host !== hostname()
        ? `cannot check orphaned ${name} on host ${notice.process.host} from here: make sure it has stopped`
        : `cannot check orphaned ${name} on this system (no /proc): make sure it has stopped`;
    case 'gone':
      return undefined;
  }
}
