import { ErrorCode, LockstepError } from '../../core/errors.js';
import { topicNames } from '../../core/protocol/envelope.js';
import { formatDuration } from '../../core/sequence/duration.js';
import { createLockstepClient, runRecordOf } from '../../modes/kafka/index.js';
import type { CliContext } from '../context.js';
import { kafkaOptions } from '../kafka-options.js';
import { printRun, printRunJson } from '../report/run-report.js';

/** What `show --brokers` is given. */
export interface KafkaShowOptions {
  readonly brokers: string;
  readonly prefix?: string;
  readonly json: boolean;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** A topic's retention for people: `7d`, `12h`, else minutes and seconds. */
function retentionText(ms: number | undefined): string {
  if (ms === undefined) return 'for ever';
  const amount = ms % DAY_MS === 0 ? `${ms / DAY_MS}d` : ms % HOUR_MS === 0 ? `${ms / HOUR_MS}h` : formatDuration(ms);
  return `for ${amount} (retention.ms=${ms})`;
}

/**
 * `lockstep show <runId> --brokers`: the run's history from the history topic, read from the run's partition only,
 * printed as `show` prints a stored run. The run-state topic adds its status and definition hash.
 *
 * @throws LockstepError UNKNOWN_RUN when the history topic holds nothing of the run, naming the topic's retention.
 */
export async function showFromKafka(cli: CliContext, runId: string, opts: KafkaShowOptions): Promise<void> {
  const connection = kafkaOptions(cli, { brokers: opts.brokers, ...(opts.prefix ? { prefix: opts.prefix } : {}) });
  const topics = topicNames(connection.prefix);
  const client = createLockstepClient({ ...connection, clientId: 'lockstep-show' });
  try {
    const [history, state] = await Promise.all([client.history(runId), client.status(runId)]);
    const record = runRecordOf(state, history);
    if (!history || !record) {
      const kept = retentionText(await client.historyRetentionMs());
      if (history) {
        throw new LockstepError(
          ErrorCode.unknownRun,
          `the first ${history.from} entries of run ${runId} expired: ${topics.history} keeps entries ${kept}, and ${topics.runs} holds no state to tell its sequence`,
        );
      }
      if (!state) {
        throw new LockstepError(
          ErrorCode.unknownRun,
          `unknown run ${runId}: ${topics.history} holds no entry of it and ${topics.runs} no state; ${topics.history} keeps entries ${kept}. Over Kafka a run is found by its whole id only (a prefix would mean reading every partition): search by prefix on the page of \`lockstep serve --brokers\``,
        );
      }
      const where = state.status === 'running' ? 'it is still running' : `it ended ${state.status}`;
      throw new LockstepError(
        ErrorCode.unknownRun,
        `the history of run ${runId} expired: ${topics.history} keeps entries ${kept}; ${where} (see \`lockstep status ${runId}\`)`,
      );
    }
    if (history.from > 0) {
      cli.err(
        `lockstep show: the first ${history.from} entries of run ${runId} expired: ${topics.history} keeps entries ${retentionText(await client.historyRetentionMs())}; the ${history.entries.length} after them follow`,
      );
    }
    if (opts.json) printRunJson(cli, record, history.entries, record.status);
    else printRun(cli, record, history.entries, record.status, '(held by the orchestrators)');
  } finally {
    await client.close();
  }
}
