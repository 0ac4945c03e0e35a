import { describeOrphan } from '../adapters/process/orphaned-attempts.js';
import type { RunEntry } from '../core/protocol/run-entry.js';
import type { Sequence } from '../core/sequence/types.js';
import type { EmbeddedRuntime } from '../modes/embedded/embedded-runtime.js';
import { createEmbeddedRuntime } from '../modes/embedded/embedded-runtime.js';
import type { RunStore } from '../ports/run-store.js';
import type { CliContext } from './context.js';
import { ExitCode, exitCodeOfOutcome } from './exit-codes.js';
import { logBytesOf, logErrorLine } from './log-bytes.js';
import { HumanReporter } from './report/human-reporter.js';

/** Output options shared by the commands that drive a run. */
export interface DriveOutput {
  readonly json?: boolean;
  readonly quiet?: boolean;
}

/** The JSON line printed for an entry: the entry without its internal machine event. */
export function entryLine(entry: RunEntry): string {
  const { event: _event, ...rest } = entry as RunEntry & { event?: unknown };
  return JSON.stringify(rest);
}

/** A run for {@link driveRun}: where it is recorded, its definition, and how it starts or resumes. */
export interface DriveRequest extends DriveOutput {
  readonly store: RunStore;
  readonly sequence: Sequence;
  /** The exact definition text, recorded with a new run. */
  readonly definition: string;
  readonly source?: string;
  /**
   * For resume: a heading and the entries recorded before this process took over, shown in human output
   * once the run is really ours (its lock taken), so a refused resume prints nothing.
   */
  readonly earlier?: { readonly heading: string; readonly entries: readonly RunEntry[] };
  /** The cap of each attempt's log (`--log-bytes`). @default LOCKSTEP_LOG_BYTES, else 1 MiB */
  readonly logBytes?: number;
  /** Starts (`run`, `rerun`) or resumes (`resume`) the run on the runtime; resolves to its id. */
  readonly begin: (runtime: EmbeddedRuntime) => Promise<string>;
}

/**
 * Drives one run in this process, for `lockstep run`, `resume` and `rerun`: live output (human or JSON lines),
 * Ctrl-C cancels the run (compensations and finally tasks still run), and the exit code follows the outcome.
 */
export async function driveRun(cli: CliContext, request: DriveRequest): Promise<void> {
  const human = request.json ? undefined : new HumanReporter(cli.out, { tty: cli.isTTY });
  // Until `begin` resolves, live entries wait, so that what was recorded earlier is printed first.
  let held: RunEntry[] | undefined = human && request.earlier ? [] : undefined;
  const print = (e: RunEntry) => (human ? human.entry(e) : cli.out(entryLine(e)));
  // What a resume did about attempts the dead process left running: in human output before the resumed entries;
  // with --json on stderr, as stdout carries only entries.
  const orphanLines: string[] = [];
  const logBytes = request.logBytes ?? logBytesOf(cli, undefined);
  const runtime = await createEmbeddedRuntime({
    store: request.store,
    onEntry: (e) => (held ? held.push(e) : print(e)),
    onOrphan: (notice) => {
      const line = describeOrphan(notice);
      if (line === undefined) return;
      if (human) orphanLines.push(`  ■ ${line}`);
      else cli.err(`lockstep: ${line}`);
    },
    onLogError: logErrorLine(cli),
    ...(logBytes === undefined ? {} : { logBytes }),
    ...(human && !request.quiet ? { onOutput: (task, stream, line) => human.output(task.taskId, stream, line) } : {}),
  });
  let runId: string | undefined;
  const stop = (signal: string) => () => {
    cli.err(
      `lockstep: ${signal} received, cancelling run ${runId ?? ''} (compensations and finally tasks still run; ${signal} again to stop at once)`,
    );
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
    process.once('SIGINT', () => process.exit(ExitCode.cancelled));
    process.once('SIGTERM', () => process.exit(ExitCode.cancelled));
    if (runId) void runtime.orchestrator.cancel(runId, `interrupted by ${signal}`);
  };
  try {
    runtime.register(request.sequence, { definition: request.definition, ...(request.source ? { source: request.source } : {}) });
    runId = await request.begin(runtime);
    if (held && request.earlier) {
      cli.out(request.earlier.heading);
      for (const e of request.earlier.entries) print(e);
      for (const line of orphanLines) cli.out(line);
      for (const e of held) print(e);
      held = undefined;
    }
    process.once('SIGINT', stop('SIGINT'));
    process.once('SIGTERM', stop('SIGTERM'));
    const final = await runtime.orchestrator.waitFor(runId);
    cli.exitCode = exitCodeOfOutcome(final.outcome);
  } finally {
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
    await runtime.close();
  }
}
