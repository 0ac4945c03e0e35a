import type { Command } from 'commander';
import type { RunState } from '../../core/protocol/run-state.js';
import { formatDuration } from '../../core/sequence/duration.js';
import { acceptTraceparent } from '../../core/trace/traceparent.js';
import { createLockstepClient } from '../../modes/kafka/index.js';
import type { CliContext } from '../context.js';
import { ExitCode, exitCodeOfOutcome } from '../exit-codes.js';
import { parseInputOption } from '../input.js';
import type { KafkaCliOptions } from '../kafka-options.js';
import { kafkaOptions, positiveInt, withKafkaOptions } from '../kafka-options.js';

interface StartCliOptions extends KafkaCliOptions {
  input?: string;
  wait?: boolean;
  runId?: string;
  version?: string;
  timeout?: string;
  json?: boolean;
  traceparent?: string;
}

/** Exit code for a run's state: 0 succeeded, 1 failed, 130 cancelled. */
export function exitCodeOfState(state: RunState): number {
  return state.status === 'running' ? ExitCode.failed : exitCodeOfOutcome(state.status);
}

/** One line about a run's state, for people. */
export function describeState(state: RunState): string {
  const context = state.snapshot.context as {
    completed?: string[];
    attempts?: Record<string, number>;
    stopping?: { taskId: string; attempt: number } | null;
  };
  const done = context.completed?.length ?? 0;
  if (state.status === 'running') {
    const stopping = context.stopping
      ? `, waiting for ${context.stopping.taskId} (attempt ${context.stopping.attempt}, stopped) to end`
      : '';
    return `${state.runId}: running ${state.sequence} v${state.version}, ${done} task(s) done${state.currentTask ? `, ${state.currentTask} in flight (attempt ${context.attempts?.[state.currentTask] ?? 1})` : ''}${stopping}${reducedNote(state)}`;
  }
  const f = state.final;
  return `${state.runId}: ${state.status} ${state.sequence} v${state.version} in ${formatDuration(f?.durationMs ?? state.updatedAt - state.createdAt)}${f?.reason ? `: ${f.reason}` : ''}${f && f.failedTasks.length > 0 ? ` (failed: ${f.failedTasks.join(', ')})` : ''}${reducedNote(state)}`;
}

/** What a state stored reduced (over its topic's record limit) left out, and why. */
function reducedNote(state: RunState): string {
  return state.reduced ? `\nstored without ${state.reduced.dropped.join(', ')}: ${state.reduced.reason}` : '';
}

/** `lockstep start <sequence>`: asks the orchestrators to start a run; with `--wait`, waits for its end. */
export function registerStart(program: Command, cli: CliContext): void {
  withKafkaOptions(program.command('start'))
    .description('start a run on the Kafka orchestrators and print its id')
    .argument('<sequence>', 'name of a sequence the orchestrators know')
    .option('--input <json|@file>', 'run input: inline JSON or @path to a JSON file')
    .option('--wait', 'wait until the run ends; the exit code tells its outcome')
    .option('--run-id <id>', 'the run id (default: a random UUID)')
    .option('--version <v>', 'sequence version (default: the latest the orchestrators know)')
    .option('--timeout <ms>', 'with --wait, give up after this long')
    .option('--json', 'print the run state as JSON')
    .option('--traceparent <value>', "W3C traceparent: the run's trace becomes a child of that span")
    .action(async (name: string, opts: StartCliOptions) => {
      const input = parseInputOption(opts.input, cli.cwd);
      // Every option is checked before the run is started: a usage error never leaves a run behind.
      const timeoutMs = positiveInt('--timeout', opts.timeout);
      const traceparent = opts.traceparent === undefined ? {} : { traceparent: acceptTraceparent(opts.traceparent, '--traceparent') };
      const client = createLockstepClient(kafkaOptions(cli, opts));
      try {
        const runId = await client.start(name, {
          input,
          ...(opts.runId ? { runId: opts.runId } : {}),
          ...(opts.version ? { version: opts.version } : {}),
          ...traceparent,
        });
        if (!opts.wait) {
          cli.out(opts.json ? JSON.stringify({ runId }) : runId);
          return;
        }
        if (!opts.json) cli.err(`started ${runId}; waiting for it to end`);
        const final = await client.wait(runId, timeoutMs ? { timeoutMs } : {});
        cli.out(opts.json ? JSON.stringify(final) : describeState(final));
        cli.exitCode = exitCodeOfState(final);
      } finally {
        await client.close();
      }
    });
}
