import { Command, CommanderError } from 'commander';
import { DefinitionError, LockstepError } from '../core/errors.js';
import { formatProblems } from '../core/sequence/problems.js';
import { registerCancel } from './commands/cancel.js';
import { registerCheckHistory } from './commands/check-history.js';
import { registerGraph } from './commands/graph.js';
import { registerLogs } from './commands/logs.js';
import { registerOrchestrator } from './commands/orchestrator.js';
import { registerRerun } from './commands/rerun.js';
import { registerResume } from './commands/resume.js';
import { registerRun } from './commands/run.js';
import { registerRuns } from './commands/runs.js';
import { registerServe } from './commands/serve.js';
import { registerShow } from './commands/show.js';
import { registerSignal } from './commands/signal.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerTest } from './commands/test.js';
import { registerTopics } from './commands/topics.js';
import { registerValidate } from './commands/validate.js';
import { registerWorker } from './commands/worker.js';
import type { CliContext } from './context.js';
import { ExitCode, exitCodeOfError } from './exit-codes.js';

/** Runs the `lockstep` command line and resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // A reader that goes away (`lockstep run --json | head -1`) must not kill a run in flight: the run goes on,
  // is recorded, and its output is dropped.
  let stdoutGone = false;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    stdoutGone = true;
  });
  const cli: CliContext = {
    out: (line) => {
      if (!stdoutGone) process.stdout.write(`${line}\n`);
    },
    err: (line) => process.stderr.write(`${line}\n`),
    exitCode: ExitCode.ok,
    env: process.env,
    cwd: process.cwd(),
    isTTY: Boolean(process.stdout.isTTY) && (process.stdout.columns ?? 0) > 0,
  };
  const program = new Command('lockstep')
    .description('run sequences of tasks strictly one after the other, with explicit failure semantics')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerRun(program, cli);
  registerValidate(program, cli);
  registerRuns(program, cli);
  registerShow(program, cli);
  registerLogs(program, cli);
  registerResume(program, cli);
  registerSignal(program, cli);
  registerRerun(program, cli);
  registerGraph(program, cli);
  registerServe(program, cli);
  registerTest(program, cli);
  registerCheckHistory(program, cli);
  registerOrchestrator(program, cli);
  registerWorker(program, cli);
  registerStart(program, cli);
  registerStatus(program, cli);
  registerCancel(program, cli);
  registerTopics(program, cli);
  try {
    await program.parseAsync([...argv]);
    return cli.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.invalid;
    }
    if (error instanceof DefinitionError) {
      cli.err(`${error.source ?? 'definition'}: invalid\n${formatProblems(error.problems)}`);
      return exitCodeOfError(error);
    }
    if (error instanceof LockstepError) {
      cli.err(`lockstep: ${error.message} (${error.code})`);
      return exitCodeOfError(error);
    }
    cli.err(`lockstep: ${(error as Error).stack ?? String(error)}`);
    return exitCodeOfError(error);
  }
}
