import type { Command } from 'commander';
import { createPrometheusMetrics } from '../../adapters/prometheus/index.js';
import { loadSequences, startKafkaOrchestrator } from '../../modes/kafka/index.js';
import type { CliContext } from '../context.js';
import type { KafkaCliOptions } from '../kafka-options.js';
import { everyInterval, kafkaOptions, positiveDuration, positiveInt, untilSignal, withKafkaOptions } from '../kafka-options.js';
import type { MetricsListener } from '../metrics-listener.js';
import { listenForMetrics, metricsPort } from '../metrics-listener.js';
import type { SequencesCliOptions } from '../sequences-option.js';
import { sequencesPath, withSequencesOption } from '../sequences-option.js';

interface OrchestratorOptions extends KafkaCliOptions, SequencesCliOptions {
  partitions?: string;
  group?: string;
  statsInterval?: string;
  keepFinished: string;
  historyRetention?: string;
  metricsPort?: string;
  metricsHost: string;
}

/** `lockstep orchestrator`: drives runs over Kafka as a member of the orchestrators' consumer group, until SIGTERM. */
export function registerOrchestrator(program: Command, cli: CliContext): void {
  withSequencesOption(
    withKafkaOptions(program.command('orchestrator')),
    'directory (or file) of sequence definitions this orchestrator can run (required)',
  )
    .description('run an orchestrator over Kafka: consumes events, advances runs exactly once, dispatches tasks')
    .option('--partitions <n>', 'create missing topics with this many partitions')
    .option('--group <id>', 'consumer group of the orchestrators (default: <prefix>-orchestrators)')
    .option('--stats-interval <ms>', 'print a JSON stats line this often')
    .option('--keep-finished <duration>', 'how long a finished run stays on the runs topic (status, wait) before it is deleted', '7d')
    .option('--history-retention <duration>', 'how long the history topic keeps entries, when this creates it (default: 7d)')
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://<metrics-host>:<port>/metrics (0 picks a free port)')
    .option('--metrics-host <host>', 'address the metrics listener binds', '127.0.0.1')
    .action(async (opts: OrchestratorOptions) => {
      const registry = loadSequences(sequencesPath(opts, true));
      const partitions = positiveInt('--partitions', opts.partitions);
      const keepFinishedMs = positiveDuration('--keep-finished', opts.keepFinished)!;
      const historyRetentionMs = positiveDuration('--history-retention', opts.historyRetention);
      const connection = kafkaOptions(cli, opts);
      const port = metricsPort(opts.metricsPort);
      const metrics = port === undefined ? undefined : createPrometheusMetrics();
      // Listening first: a port in use fails before the orchestrator joins its group.
      const listener: MetricsListener | undefined = metrics && (await listenForMetrics(metrics, opts.metricsHost, port!));
      const service = await startKafkaOrchestrator({
        ...connection,
        ...(metrics ? { metrics } : {}),
        registry,
        keepFinishedMs,
        ...(partitions ? { partitions } : {}),
        ...(opts.group ? { group: opts.group } : {}),
        ...(historyRetentionMs ? { historyRetentionMs } : {}),
        onLog: (message, extra) => cli.err(JSON.stringify({ level: 'warn', message, ...extra })),
      }).catch(async (error: unknown) => {
        await listener?.close();
        throw error;
      });
      const stats = () =>
        cli.out(
          JSON.stringify({ event: 'stats', pid: process.pid, active: service.orchestrator.activeRuns, ...service.orchestrator.stats }),
        );
      cli.out(
        JSON.stringify({
          event: 'ready',
          role: 'orchestrator',
          pid: process.pid,
          prefix: connection.prefix,
          sequences: registry.names(),
          partitions: service.topics.partitions,
          created: service.topics.created,
          ...(listener ? { metrics: listener.url } : {}),
        }),
      );
      const stop = everyInterval(positiveInt('--stats-interval', opts.statsInterval), stats);
      const signal = await untilSignal();
      stop();
      cli.err(JSON.stringify({ level: 'info', message: `${signal}: leaving the group (runs move to the other orchestrators)` }));
      await service.close();
      await listener?.close();
      stats();
    });
}
