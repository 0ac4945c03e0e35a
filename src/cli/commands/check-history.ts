import type { Command } from 'commander';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import type { Sequence } from '../../core/sequence/types.js';
import { loadSequences, readHistoryLog } from '../../modes/kafka/index.js';
import { storedHistories } from '../../runtime/stored-histories.js';
import type { HistoryReport, RunHistory, ViolationKind } from '../../testing/history-checker.js';
import { checkHistory } from '../../testing/history-checker.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { kafkaOptions, prefixHelp } from '../kafka-options.js';
import type { SequencesCliOptions } from '../sequences-option.js';
import { sequencesPath, withSequencesOption } from '../sequences-option.js';
import { openStore } from '../store.js';

interface CheckHistoryOptions extends SequencesCliOptions {
  store?: string;
  brokers?: string;
  prefix?: string;
  dispatches?: boolean;
  allowRunning?: boolean;
  json?: boolean;
}

/** The kinds in the order the summary line names them, in words. */
const KIND_WORDS: ReadonlyArray<readonly [ViolationKind, string]> = [
  ['lost-run', 'lost runs'],
  ['order', 'order'],
  ['overlapping-attempts', 'overlapping attempts'],
  ['duplicate-advancement', 'duplicate advancements'],
  ['finally', 'finally'],
  ['compensation', 'compensation'],
  ['unfinished', 'unfinished'],
];

/** What was read, from where, before checking. */
interface Read {
  readonly source: string;
  readonly histories: readonly RunHistory[];
  readonly sequenceOf: (name: string, version: string) => Sequence | undefined;
  readonly mayBeWaiting: (history: RunHistory) => boolean;
  readonly dispatches?: ReadonlyArray<{ runId: string; taskId: string; attempt: number; phase: string }>;
  readonly conflicts: ReadonlyArray<{ runId: string; seq: number }>;
}

function loadedSequences(opts: CheckHistoryOptions): Sequence[] {
  const path = sequencesPath(opts, false);
  return path === undefined
    ? []
    : loadSequences(path)
        .definitions()
        .map((d) => d.program.sequence);
}

const byNameAndVersion = (sequences: readonly Sequence[]) => (name: string, version: string) =>
  sequences.findLast((s) => s.name === name && s.version === version);

async function readStore(cli: CliContext, opts: CheckHistoryOptions, sequences: readonly Sequence[]): Promise<Read> {
  const store = await openStore(cli, opts.store, { mustExist: true, readOnly: true });
  try {
    const histories = await storedHistories(store);
    const driven = new Set(histories.filter((h) => h.driven).map((h) => h.runId));
    return {
      source: store.path,
      histories,
      sequenceOf: byNameAndVersion(sequences),
      // A run that a live process drives may still be going; one whose process died must be resumed.
      mayBeWaiting: (h) => opts.allowRunning === true || driven.has(h.runId),
      conflicts: [],
    };
  } finally {
    await store.close();
  }
}

async function readKafka(cli: CliContext, opts: CheckHistoryOptions, sequences: readonly Sequence[]): Promise<Read> {
  const connection = kafkaOptions(cli, { brokers: opts.brokers!, ...(opts.prefix ? { prefix: opts.prefix } : {}) });
  const log = await readHistoryLog({ ...connection, clientId: 'lockstep-check-history', dispatches: opts.dispatches === true, sequences });
  const topics = [`${connection.prefix}.history`, ...log.commandTopics];
  return {
    source: topics.join(', '),
    histories: log.histories,
    sequenceOf: log.sequenceOf,
    mayBeWaiting: () => opts.allowRunning === true,
    ...(opts.dispatches ? { dispatches: log.dispatches } : {}),
    conflicts: log.conflicts,
  };
}

function printReport(cli: CliContext, read: Read, report: HistoryReport): void {
  cli.out(`checked ${report.runs} runs in ${read.source}: ${report.finished} finished, ${report.waiting} waiting`);
  const counts = KIND_WORDS.map(([kind, words]) => `${words} ${report.counts[kind]}`);
  if (read.dispatches) counts.push(`duplicate dispatches ${report.duplicateDispatches}`);
  cli.out(counts.join(', '));
  const without = report.withoutSequence ?? [];
  if (without.length > 0) {
    cli.out(`${without.length} runs checked without their sequence (give it with --sequences): ${without.join(', ')}`);
  }
  for (const c of read.conflicts) cli.out(`CONFLICT run ${c.runId}: two different entries were written with seq ${c.seq}`);
  for (const v of report.violations) cli.out(`VIOLATION ${v.kind} run ${v.runId}: ${v.message}`);
  const bad = report.violations.length + read.conflicts.length;
  cli.out(bad === 0 ? 'OK: no violations' : `FAIL: ${bad} violations`);
}

/** `lockstep check-history`: checks every run of a store, or of the history topic, against lockstep's promises. */
export function registerCheckHistory(program: Command, cli: CliContext): void {
  const command = program
    .command('check-history')
    .description(
      "check every recorded run against lockstep's promises: order, no overlapping attempts, no double advancement, finally once, compensations, every run ended",
    )
    .option('--store <path>', 'run store location (default: .lockstep/ or LOCKSTEP_STORE)')
    .option('--brokers <list>', 'read the runs from Kafka (the history, run-state and definitions topics) instead of a store')
    .option('--prefix <prefix>', `with --brokers: ${prefixHelp}`)
    .option('--dispatches', "with --brokers: read the command topics' dispatches too, and count the duplicate ones")
    .option('--allow-running', 'a run that has not ended is still going, not a violation')
    .option('--json', 'print the report as one JSON object');
  withSequencesOption(command, "sequence definitions to check runs against when the run's own definition is not recorded").action(
    async (opts: CheckHistoryOptions) => {
      if (opts.brokers && opts.store) {
        throw new LockstepError(
          ErrorCode.invalidUsage,
          '--store and --brokers exclude each other: over Kafka the runs are read from the topics',
        );
      }
      if ((opts.prefix || opts.dispatches) && !opts.brokers) {
        throw new LockstepError(
          ErrorCode.invalidUsage,
          `${opts.prefix ? '--prefix' : '--dispatches'} reads Kafka topics: it needs --brokers`,
        );
      }
      const sequences = loadedSequences(opts);
      const read = opts.brokers ? await readKafka(cli, opts, sequences) : await readStore(cli, opts, sequences);
      const report = checkHistory(read.histories, {
        sequenceOf: read.sequenceOf,
        mayBeWaiting: read.mayBeWaiting,
        ...(read.dispatches ? { dispatches: read.dispatches } : {}),
      });
      if (opts.json) cli.out(JSON.stringify({ source: read.source, ...report, conflicts: read.conflicts }));
      else printReport(cli, read, report);
      cli.exitCode = report.violations.length + read.conflicts.length > 0 ? ExitCode.failed : ExitCode.ok;
    },
  );
}
