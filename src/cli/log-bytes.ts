import type { CliContext } from './context.js';
import { positiveInt } from './kafka-options.js';

/** Help text of `--log-bytes`. */
export const logBytesHelp = "cap of each attempt's log, in bytes of line text (default: LOCKSTEP_LOG_BYTES or 1048576)";

/** The log cap: `--log-bytes`, else `LOCKSTEP_LOG_BYTES`, else the default (1 MiB). */
export function logBytesOf(cli: CliContext, option: string | undefined): number | undefined {
  return positiveInt('--log-bytes', option) ?? positiveInt('LOCKSTEP_LOG_BYTES', cli.env.LOCKSTEP_LOG_BYTES || undefined);
}

/** What a command prints when an attempt's log cannot be stored: the run goes on without the rest of that log. */
export function logErrorLine(cli: CliContext): (task: { runId: string; taskId: string; attempt: number }, error: unknown) => void {
  return (task, error) =>
    cli.err(
      `lockstep: warning: the log of run ${task.runId} task "${task.taskId}" attempt ${task.attempt} is incomplete: ${(error as Error).message}; the run goes on`,
    );
}

/** The embedded log options of a command without a `--log-bytes` flag (`serve`): `LOCKSTEP_LOG_BYTES` only. */
export function logCap(cli: CliContext): { logBytes?: number } {
  const logBytes = logBytesOf(cli, undefined);
  return logBytes === undefined ? {} : { logBytes };
}
