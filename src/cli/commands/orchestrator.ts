import type { Command } from 'commander';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { parseDuration } from '../../core/sequence/duration.js';
import { loadSequences, startKafkaOrchestrator } from '../../modes/kafka/index.js';
import type { CliContext } from '../context.js';
import type { KafkaCliOptions } from '../kafka-options.js';
import { everyInterval, kafkaOptions, positiveInt, untilSignal, withKafkaOptions } from '../kafka-options.js';
import type { SequencesCliOptions } from '../sequences-option.js';
import { sequencesPath, withSequencesOption } from '../sequences-option.js';

interface OrchestratorOptions extends KafkaCliOptions, SequencesCliOptions {
  partitions?: string;
  group?: string;
  statsInterval?: string;
  keepFinished: string;
}

/** `lockstep orchestrator`: drives runs over Kafka as a member of the orchestrators' consumer group, until SIGTERM. */
export function registerOrchestrator(program: Command, cli: CliContext): void {
  withSequencesOption(withKafkaOptions(program.command('orchestrator')), 'directory (or file) of sequence definitions this orchestrator can run (required)')
    .description('run an orchestrator over Kafka: consumes events, advances runs exactly once, dispatches tasks')
    .option('--partitions <n>', 'create missing topics with this many partitions')
    .option('--group <id>', 'consumer group of the orchestrators (default: <prefix>-orchestrators)')
    .option('--stats-interval <ms>', 'print a JSON stats line this often')
    .option('--keep-finished <duration>', 'how long a finished run stays on the runs topic (status, wait) before it is deleted', '7d')
    .action(async (opts: OrchestratorOptions) => {
      const registry = loadSequences(sequencesPath(opts, true));
      const partitions = positiveInt('--partitions', opts.partitions);
      const keepFinishedMs = parseDuration(opts.keepFinished);
      if (keepFinishedMs === undefined || keepFinishedMs <= 0) {
        throw new LockstepError(ErrorCode.invalidUsage, `Expected \`--keep-finished\` to be a duration such as 7d, 12h or 30m, got \`${opts.keepFinished}\``);
      }
      const connection = kafkaOptions(cli, opts);
      const service = await startKafkaOrchestrator({
        ...connection, registry, keepFinishedMs, ...(partitions ? { partitions } : {}), ...(opts.group ? { group: opts.group } : {}),
        onLog: (message, extra) => cli.err(JSON.stringify({ level: 'warn', message, ...extra })),
      });
      const stats = () => cli.out(JSON.stringify({ event: 'stats', pid: process.pid, active: service.orchestrator.activeRuns, ...service.orchestrator.stats }));
      cli.out(JSON.stringify({ event: 'ready', role: 'orchestrator', pid: process.pid, prefix: connection.prefix, sequences: registry.names(), partitions: service.topics.partitions, created: service.topics.created }));
      const stop = everyInterval(positiveInt('--stats-interval', opts.statsInterval), stats);
      const signal = await untilSignal();
      stop();
      cli.err(JSON.stringify({ level: 'info', message: `${signal}: leaving the group (runs move to the other orchestrators)` }));
      await service.close();
      stats();
    });
}
