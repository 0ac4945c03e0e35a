import type { Command } from 'commander';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { createLockstepClient } from '../../modes/kafka/index.js';
import type { CliContext } from '../context.js';
import type { KafkaCliOptions } from '../kafka-options.js';
import { kafkaOptions, withKafkaOptions } from '../kafka-options.js';
import { describeState } from './start.js';

/** `lockstep status <runId>`: the run's last committed state, from the run-state topic. */
export function registerStatus(program: Command, cli: CliContext): void {
  withKafkaOptions(program.command('status'))
    .description('show the state of a run on the Kafka orchestrators')
    .argument('<runId>', 'the run id')
    .option('--json', 'print the whole run state as JSON')
    .action(async (runId: string, opts: KafkaCliOptions & { json?: boolean }) => {
      const client = createLockstepClient(kafkaOptions(cli, opts));
      try {
        const state = await client.status(runId);
        if (!state)
          throw new LockstepError(ErrorCode.unknownRun, `unknown run ${runId} (not started, or not picked up by an orchestrator yet)`);
        cli.out(opts.json ? JSON.stringify(state) : describeState(state));
      } finally {
        await client.close();
      }
    });
}
