/**
 * A shell attempt's process group, recorded while the attempt runs. Should the process that started it die, the
 * group lives on (it runs detached); `resume` finds the record and stops the group before the task runs again.
 */
export interface AttemptProcess {
  readonly runId: string;
  readonly task: string;
  readonly attempt: number;
  /** The process group id: the pid of the shell that leads the group. */
  readonly pgid: number;
  /**
   * The leader's start time (Linux: field 22 of /proc/<pid>/stat, clock ticks since boot) and the boot it started
   * in (/proc/sys/kernel/random/boot_id). With the pid they tell the group from a later process given the same
   * pid. null where they cannot be read.
   */
  readonly startTime: string | null;
  readonly bootId: string | null;
  readonly host: string;
  /** When the attempt's process started, in ms since the epoch. */
  readonly startedAt: number;
}

/** The attempt a process group belongs to. */
export interface AttemptRef {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
}

/** Keeps track of the process groups of shell attempts while they run. */
export interface AttemptProcessTracker {
  /** Called right after the attempt's shell started; resolves once the group is recorded. */
  started(attempt: AttemptRef, pgid: number): Promise<void>;
  /** Called once the attempt's process group is gone. */
  ended(attempt: AttemptRef): Promise<void>;
}
