import type { Command } from 'commander';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { loadSequenceText } from '../../core/sequence/validate.js';
import type { CliContext } from '../context.js';
import { driveRun } from '../drive-run.js';
import { openStore, storedRun } from '../store.js';

interface ResumeOptions {
  json?: boolean;
  store?: string;
  quiet?: boolean;
}

/**
 * `lockstep resume <runId>`: continues a run whose process died. Tasks that completed are not run again; the
 * attempt that was in flight is recorded as interrupted and runs again as its next attempt. The run uses the
 * definition it started with, whatever the file says now.
 *
 * A shell attempt of the dead process may still run (its process group is detached): before any task runs
 * again, resume stops it (SIGTERM, then SIGKILL after the kill grace), waits until its group is gone, and prints
 * a line saying so. A recorded pid that now belongs to another process is left alone.
 */
export function registerResume(program: Command, cli: CliContext): void {
  program
    .command('resume')
    .description('continue a run whose process died: completed tasks are not run again')
    .argument('<runId>', 'id of a run that is still marked running')
    .option('--json', 'print one JSON object per line for each new event')
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .option('-q, --quiet', 'do not print task output')
    .action(async (runId: string, opts: ResumeOptions) => {
      const store = await openStore(cli, opts.store, { mustExist: true });
      try {
        const { record, history } = await storedRun(store, runId);
        if (record.status !== 'running') {
          throw new LockstepError(
            ErrorCode.runNotResumable,
            `run ${runId} already ended: ${record.status}; nothing to resume (start a new run from it with \`lockstep rerun ${runId}\`)`,
          );
        }
        const holder = store.holder(runId);
        if (holder?.alive) {
          throw new LockstepError(
            ErrorCode.runLocked,
            `run ${runId} is being driven by another process (pid ${holder.pid} on ${holder.host}, since ${new Date(holder.acquiredAt).toISOString()}); nothing was changed`,
          );
        }
        const sequence = loadSequenceText(
          record.definition,
          record.source ? `${record.source} (as recorded with run ${runId})` : `run ${runId}`,
        );
        const heading = `↻ resuming run ${runId} of ${record.sequence} v${record.version}: ${history.length} entries recorded (${store.path})`;
        await driveRun(cli, {
          store,
          sequence,
          definition: record.definition,
          ...(record.source ? { source: record.source } : {}),
          ...(opts.json ? {} : { earlier: { heading, entries: history } }),
          json: opts.json ?? false,
          quiet: opts.quiet ?? false,
          begin: async (runtime) => {
            await runtime.resume(runId);
            return runId;
          },
        });
      } catch (error) {
        await store.close();
        throw error;
      }
    });
}
