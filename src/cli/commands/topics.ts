import type { Command } from 'commander';
import { topicNames } from '../../core/protocol/envelope.js';
import { KafkaTransport, loadSequences, queuesOf } from '../../modes/kafka/index.js';
import type { CliContext } from '../context.js';
import type { KafkaCliOptions } from '../kafka-options.js';
import { kafkaOptions, positiveDuration, positiveInt, withKafkaOptions } from '../kafka-options.js';
import type { SequencesCliOptions } from '../sequences-option.js';
import { sequencesPath, withSequencesOption } from '../sequences-option.js';

interface TopicsCreateOptions extends KafkaCliOptions, SequencesCliOptions {
  partitions: string;
  queues?: string;
  replicationFactor?: string;
  historyRetention?: string;
}

/** `lockstep topics create`: creates the events, run-state and definitions (compacted), history, dead-letter and command topics. */
export function registerTopics(program: Command, cli: CliContext): void {
  const topics = program.command('topics').description("manage lockstep's Kafka topics");
  withSequencesOption(withKafkaOptions(topics.command('create')), 'also create the queues these definitions use')
    .description('create the topics that do not exist yet, with an explicit partition count')
    .requiredOption('--partitions <n>', 'partitions of every topic (bounds how many orchestrators and workers share the load)')
    .option('--queues <list>', 'task queues, comma-separated (default is always included)')
    .option('--replication-factor <n>', "replication factor (default: the cluster's)")
    .option('--history-retention <duration>', "how long the history topic keeps each run's entries, e.g. 30d (default: 7d)")
    .action(async (opts: TopicsCreateOptions) => {
      const partitions = positiveInt('--partitions', opts.partitions)!;
      const historyRetentionMs = positiveDuration('--history-retention', opts.historyRetention);
      const sequences = sequencesPath(opts, false);
      const queues = [
        ...(opts.queues
          ?.split(',')
          .map((q) => q.trim())
          .filter(Boolean) ?? []),
        ...(sequences ? queuesOf(loadSequences(sequences)) : []),
      ];
      const connection = kafkaOptions(cli, opts);
      const transport = new KafkaTransport({ ...connection, clientId: 'lockstep-topics' });
      try {
        const rf = positiveInt('--replication-factor', opts.replicationFactor);
        const layout = {
          prefix: connection.prefix,
          partitions,
          queues,
          ...(rf ? { replicationFactor: rf } : {}),
          ...(historyRetentionMs ? { historyRetentionMs } : {}),
        };
        const report = await transport.ensureTopics(layout);
        const definitions = topicNames(connection.prefix).definitions;
        for (const t of report.created)
          cli.out(`created ${t} (${t === definitions ? 1 : partitions} partition${t === definitions ? '' : 's'})`);
        for (const t of report.existing) cli.out(`exists  ${t}`);
      } finally {
        await transport.close();
      }
    });
}
