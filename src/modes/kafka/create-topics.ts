import type { TopicLayout, TopicReport } from '../../adapters/kafka/index.js';
import { KafkaTransport } from '../../adapters/kafka/index.js';
import type { KafkaModeOptions } from './connection.js';
import { resolveKafka } from './connection.js';

/** Options of {@link createTopics}: where to connect, and the layout to create. */
export interface CreateTopicsOptions extends KafkaModeOptions, Omit<TopicLayout, 'prefix'> {}

/**
 * Creates the topics of a lockstep deployment that do not exist yet (events, run state, history, definitions,
 * dead letters, and one command topic per queue), as `lockstep topics create` does. Topics that exist are left
 * as they are and listed in `existing`.
 *
 * @example await createTopics({ brokers: 'localhost:19092', partitions: 6, queues: ['payments'] })
 * @throws LockstepError INVALID_USAGE when `partitions` is not a positive integer or the existing topics do not
 * line up.
 */
export async function createTopics(options: CreateTopicsOptions): Promise<TopicReport> {
  const { partitions, queues, replicationFactor, ...connection } = options;
  const resolved = resolveKafka(connection);
  const transport = new KafkaTransport({ ...resolved, clientId: connection.clientId ?? 'lockstep-topics' });
  try {
    return await transport.ensureTopics({
      prefix: resolved.prefix,
      partitions,
      ...(queues ? { queues } : {}),
      ...(replicationFactor === undefined ? {} : { replicationFactor }),
    });
  } finally {
    await transport.close();
  }
}
