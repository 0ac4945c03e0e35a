import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadSequenceFile } from '../../adapters/fs/load-sequence.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { sha256Hex } from '../../core/hash.js';
import { defaultRerunFrom, describeRerunSteps, planRerun } from '../../core/run/rerun-plan.js';
import type { Sequence } from '../../core/sequence/types.js';
import { loadSequenceText } from '../../core/sequence/validate.js';
import type { RunRecord } from '../../ports/run-store.js';
import type { CliContext } from '../context.js';
import { driveRun } from '../drive-run.js';
import { openStore, storedRun } from '../store.js';

interface RerunOptions {
  from?: string;
  definition?: string;
  json?: boolean;
  store?: string;
  quiet?: boolean;
  dryRun?: boolean;
}

const DEFINITION_CHOICES = ['original', 'current'] as const;

/** The definition a rerun uses, and a note for the user when the file no longer matches the run's. */
function chooseDefinition(cli: CliContext, record: RunRecord, choice: string): { sequence: Sequence; text: string; note?: string } {
  const sourcePath = record.source === undefined ? undefined : resolve(cli.cwd, record.source);
  let fileText: string | undefined;
  try {
    fileText = sourcePath === undefined ? undefined : readFileSync(sourcePath, 'utf8');
  } catch {
    fileText = undefined;
  }
  const short = (hash: string) => hash.slice(0, 12);
  if (choice === 'current') {
    if (sourcePath === undefined) {
      throw new LockstepError(
        ErrorCode.invalidUsage,
        `--definition current: run ${record.runId} was not started from a file, so there is no current definition to use`,
      );
    }
    const loaded = loadSequenceFile(sourcePath);
    const note =
      loaded.hash === record.definitionHash
        ? `the current ${record.source} is the same as run ${record.runId}'s definition`
        : `using the current ${record.source} (sha256 ${short(loaded.hash)}), which has changed since run ${record.runId} started (sha256 ${short(record.definitionHash)})`;
    return { sequence: loaded.sequence, text: loaded.text, note };
  }
  const sequence = loadSequenceText(record.definition, `run ${record.runId}'s recorded definition`);
  let note: string | undefined;
  if (record.source !== undefined && fileText === undefined)
    note = `${record.source} no longer exists; using run ${record.runId}'s recorded definition`;
  else if (fileText !== undefined && sha256Hex(fileText) !== record.definitionHash) {
    note = `${record.source} has changed since run ${record.runId} started (sha256 ${short(record.definitionHash)} -> ${short(sha256Hex(fileText))}); using the run's original definition (pass --definition current to use the file)`;
  }
  return { sequence, text: record.definition, ...(note ? { note } : {}) };
}

/**
 * `lockstep rerun <runId> [--from <taskId>] [--definition current]`: starts a new run linked to an ended one.
 * The recorded results of the tasks before `--from` are reused (those tasks do not run again); without
 * `--from`, the rerun starts at the task that failed. A task whose compensation ran in the earlier run is never
 * reused: the rerun starts at it at the latest. The run's original definition is used unless `--definition current`
 * is given. `--dry-run` prints the plan, task by task, and starts nothing.
 */
export function registerRerun(program: Command, cli: CliContext): void {
  program
    .command('rerun')
    .description('start a new run from an ended one, reusing the results of the tasks before --from')
    .argument('<runId>', 'id of an ended run')
    .option('--from <taskId>', 'main task to start from (default: the task that failed)')
    .option('--definition <which>', 'definition to use: original (recorded with the run) or current (the file as it is now)', 'original')
    .option('--json', 'print one JSON object per line for each event')
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .option('-q, --quiet', 'do not print task output')
    .option('--dry-run', 'print what the rerun would reuse and run again, task by task, and start nothing')
    .action(async (runId: string, opts: RerunOptions) => {
      const choice = opts.definition ?? 'original';
      if (!(DEFINITION_CHOICES as readonly string[]).includes(choice)) {
        throw new LockstepError(ErrorCode.invalidUsage, `--definition: expected one of ${DEFINITION_CHOICES.join(', ')}, got "${choice}"`);
      }
      const store = await openStore(cli, opts.store, { mustExist: true });
      try {
        const { record, history } = await storedRun(store, runId);
        if (record.status === 'running') {
          const holder = store.holder(runId);
          const how = holder?.alive
            ? `process ${holder.pid} on ${holder.host} is driving it`
            : `its process is gone: continue it with \`lockstep resume ${runId}\``;
          throw new LockstepError(ErrorCode.runActive, `run ${runId} has not ended (${how}); only an ended run can be rerun`);
        }
        const chosen = chooseDefinition(cli, record, choice);
        const from = opts.from ?? defaultRerunFrom(chosen.sequence, history);
        const { plan, reuse } = planRerun(chosen.sequence, runId, history, from);
        if (chosen.note) cli.err(`lockstep: note: ${chosen.note}`);
        if (opts.dryRun && opts.json) {
          cli.out(JSON.stringify(plan));
          await store.close();
          return;
        }
        if (opts.json) {
          for (const step of plan.steps) {
            if (step.action === 'runs' && step.reason.startsWith('its compensation ran'))
              cli.err(`lockstep: note: ${step.taskId} runs again (${step.reason})`);
          }
        } else {
          const reused =
            plan.reused.map((r) => (r.outcome === 'succeeded' ? r.taskId : `${r.taskId} (failed, continued)`)).join(', ') || 'nothing';
          const requested = plan.requested ? ` (asked: "${plan.requested}")` : '';
          cli.out(`↺ rerun of ${runId} from "${plan.from}"${requested}: reusing ${reused}; running ${plan.rerun.join(', ')}`);
          for (const line of describeRerunSteps(plan)) cli.out(`  ${line}`);
        }
        if (opts.dryRun) {
          cli.out('(dry run: nothing was started)');
          await store.close();
          return;
        }
        await driveRun(cli, {
          store,
          sequence: chosen.sequence,
          definition: chosen.text,
          ...(record.source ? { source: record.source } : {}),
          json: opts.json ?? false,
          quiet: opts.quiet ?? false,
          begin: (runtime) => runtime.start({ sequence: chosen.sequence.name, input: record.input, rerunOf: runId, reuse }),
        });
      } catch (error) {
        await store.close();
        throw error;
      }
    });
}
