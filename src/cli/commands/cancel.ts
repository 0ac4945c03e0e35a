import type { Command } from 'commander';
import { createLockstepClient } from '../../modes/kafka/index.js';
import type { CliContext } from '../context.js';
import type { KafkaCliOptions } from '../kafka-options.js';
import { kafkaOptions, withKafkaOptions } from '../kafka-options.js';

/** `lockstep cancel <runId>`: asks the orchestrators to cancel a run (compensations and finally tasks still run). */
export function registerCancel(program: Command, cli: CliContext): void {
  withKafkaOptions(program.command('cancel'))
    .description('cancel a run on the Kafka orchestrators')
    .argument('<runId>', 'the run id')
    .option('--reason <text>', 'why, recorded with the run', 'cancelled from the command line')
    .action(async (runId: string, opts: KafkaCliOptions & { reason: string }) => {
      const client = createLockstepClient(kafkaOptions(cli, opts));
      try {
        await client.cancel(runId, opts.reason);
        cli.out(`cancel requested for ${runId}`);
      } finally {
        await client.close();
      }
    });
}
