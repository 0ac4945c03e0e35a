import type { Command } from 'commander';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { topicNames } from '../../core/protocol/envelope.js';
import { createLockstepClient } from '../../modes/kafka/index.js';
import type { AttemptLog, AttemptLogFilter, LogLine } from '../../ports/attempt-logs.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { kafkaOptions, positiveInt, prefixHelp } from '../kafka-options.js';
import { openStore } from '../store.js';

interface LogsOptions {
  task?: string;
  attempt?: string;
  follow?: boolean;
  json?: boolean;
  store?: string;
  brokers?: string;
  prefix?: string;
}

/** Where a run's logs are read from: its store, or the Kafka topics. */
interface LogSource {
  logs(filter: AttemptLogFilter): Promise<AttemptLog[]>;
  /** Whether the run goes on: `running`, `ended`, or `interrupted` (no live process drives it). */
  progress(): Promise<'running' | 'ended' | 'interrupted'>;
  close(): Promise<void>;
}

/** How often `--follow` reads again: a store is a local file, the topics are a round trip away. */
const STORE_POLL_MS = 200;
const KAFKA_POLL_MS = 500;

/** `lockstep logs <runId>`: every attempt's stdout, stderr and `ctx.log` lines, from a store or over Kafka. */
export function registerLogs(program: Command, cli: CliContext): void {
  program
    .command('logs')
    .description("print a run's task output (stdout, stderr and handler log lines), attempt by attempt")
    .argument('<runId>', 'id of a recorded run (see `lockstep runs`)')
    .option('--task <id>', 'only the attempts of this task')
    .option('--attempt <n>', 'only this attempt number')
    .option('-f, --follow', 'keep printing lines as they come until the run ends')
    .option('--json', 'print one JSON object per line')
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .option('--brokers <list>', 'read the logs from Kafka (the log topic) instead of a store')
    .option('--prefix <prefix>', `with --brokers: ${prefixHelp}`)
    .action(async (runId: string, opts: LogsOptions) => {
      if (opts.brokers && opts.store)
        throw new LockstepError(
          ErrorCode.invalidUsage,
          '--store and --brokers exclude each other: over Kafka the logs are read from its topics',
        );
      if (opts.prefix && !opts.brokers) throw new LockstepError(ErrorCode.invalidUsage, '--prefix names Kafka topics: it needs --brokers');
      const attempt = positiveInt('--attempt', opts.attempt);
      const filter: AttemptLogFilter = { ...(opts.task ? { task: opts.task } : {}), ...(attempt ? { attempt } : {}) };
      const source = opts.brokers ? await kafkaSource(cli, runId, opts) : await storeSource(cli, runId, opts.store);
      try {
        await printLogs(cli, runId, source, filter, opts);
      } finally {
        await source.close();
      }
    });
}

async function storeSource(cli: CliContext, runId: string, option: string | undefined): Promise<LogSource> {
  const store = await openStore(cli, option, { mustExist: true, readOnly: true });
  if (!(await store.get(runId))) {
    await store.close();
    throw new LockstepError(ErrorCode.unknownRun, `unknown run ${runId} in ${store.path} (list runs with \`lockstep runs\`)`);
  }
  return {
    logs: (filter) => store.attemptLogs(runId, filter),
    async progress() {
      const stored = await store.get(runId);
      if (stored?.record.status !== 'running') return 'ended';
      return store.isDriven(runId) ? 'running' : 'interrupted';
    },
    close: () => store.close(),
  };
}

async function kafkaSource(cli: CliContext, runId: string, opts: LogsOptions): Promise<LogSource> {
  const connection = kafkaOptions(cli, { brokers: opts.brokers!, ...(opts.prefix ? { prefix: opts.prefix } : {}) });
  const client = createLockstepClient({ ...connection, clientId: 'lockstep-logs' });
  try {
    const [state, history] = await Promise.all([client.status(runId), client.history(runId)]);
    if (!state && !history) {
      const topics = topicNames(connection.prefix);
      throw new LockstepError(
        ErrorCode.unknownRun,
        `unknown run ${runId}: ${topics.runs} holds no state of it and ${topics.history} no entry`,
      );
    }
  } catch (error) {
    await client.close();
    throw error;
  }
  return {
    logs: (filter) => client.logs(runId, filter),
    async progress() {
      const state = await client.status(runId);
      return state === undefined || state.status === 'running' ? 'running' : 'ended';
    },
    close: () => client.close(),
  };
}

/** Prints the logs once, or with `--follow` what comes next too, until the run ends. */
async function printLogs(cli: CliContext, runId: string, source: LogSource, filter: AttemptLogFilter, opts: LogsOptions): Promise<void> {
  const printed = new Map<string, number>();
  const printNew = (logs: readonly AttemptLog[]) => {
    for (const log of logs) {
      const key = `${log.task}#${log.attempt}`;
      const from = printed.get(key) ?? 0;
      for (const line of log.lines.slice(from)) cli.out(opts.json ? jsonLine(log, line) : humanLine(log, line));
      printed.set(key, log.lines.length);
    }
  };
  if (!opts.follow) {
    const logs = await source.logs(filter);
    printNew(logs);
    if (logs.length === 0 && !opts.json) cli.err('lockstep logs: no log lines recorded for this run (or these attempts)');
    return;
  }
  const pollMs = opts.brokers ? KAFKA_POLL_MS : STORE_POLL_MS;
  let undriven = 0;
  for (;;) {
    // The state first: once it says the run ended, the logs read after it are whole (an attempt's log is stored
    // before its outcome).
    const progress = await source.progress();
    printNew(await source.logs(filter));
    if (progress === 'ended') return;
    // Twice in a row: a run whose process is just taking its lock is not mistaken for an abandoned one.
    undriven = progress === 'interrupted' ? undriven + 1 : 0;
    if (undriven >= 2) {
      cli.err(
        `lockstep logs: run ${runId} is interrupted (no live process drives it): stopped following; continue it with \`lockstep resume ${runId}\``,
      );
      cli.exitCode = ExitCode.runState;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** `build#2 stderr | text`; a finally task's attempts say so. */
export function humanLine(log: AttemptLog, line: LogLine): string {
  const phase = log.phase === 'finally' ? ' (finally)' : '';
  return `${log.task}#${log.attempt}${phase} ${line.stream.padEnd(6)} | ${line.text}`;
}

/** One JSON object per line: the attempt, then the line. */
export function jsonLine(log: AttemptLog, line: LogLine): string {
  return JSON.stringify({ task: log.task, attempt: log.attempt, phase: log.phase, at: line.at, stream: line.stream, text: line.text });
}
