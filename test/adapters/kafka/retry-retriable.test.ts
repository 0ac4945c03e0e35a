// Admin requests that kafkajs gives up on at the first retriable broker error (ListOffsets on a partition whose
// leader is not serving yet) are sent again; anything else fails at once.
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { retryRetriable } from '../../../src/adapters/kafka/kafka-client.js';

const { KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;
/** The error kafkajs makes of a broker's error code (its typings take only a message). */
const protocolError = (type: string, code: number, retriable: boolean, message: string) =>
  new KafkaJSProtocolError(Object.assign(new Error(message), { type, code, retriable }));
const notLeader = () => protocolError('NOT_LEADER_FOR_PARTITION', 6, true, 'This server is not the leader for that topic-partition');
const BACKOFF = [1, 1, 1];

/** A request that fails with each of `errors` in turn, then answers 'ok'. */
const failing = (...errors: Error[]) => {
  const calls = { count: 0 };
  const request = async () => {
    const error = errors[calls.count++];
    if (error) throw error;
    return 'ok';
  };
  return { calls, request };
};

describe('retryRetriable', () => {
  it('sends the request again while the partition has no serving leader', async () => {
    const { calls, request } = failing(notLeader(), notLeader());
    await expect(retryRetriable(request, BACKOFF)).resolves.toBe('ok');
    expect(calls.count).toBe(3);
  });

  it('gives up after its last wait with the broker error', async () => {
    const { calls, request } = failing(notLeader(), notLeader(), notLeader(), notLeader());
    await expect(retryRetriable(request, BACKOFF)).rejects.toMatchObject({ type: 'NOT_LEADER_FOR_PARTITION' });
    expect(calls.count).toBe(4);
  });

  it.each([
    ['a protocol error that is not retriable', protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false, 'Not authorized to access topics')],
    ['retries kafkajs already spent', new KafkaJSNumberOfRetriesExceeded(notLeader(), { retryCount: 8, retryTime: 100 })],
    ['a request kafkajs refused', new KafkaJSNonRetriableError('Invalid topic undefined')],
    ['an error of lockstep', new Error('not a broker error')],
  ])('fails at once on %s', async (_what, error) => {
    const { calls, request } = failing(error);
    await expect(retryRetriable(request, BACKOFF)).rejects.toBe(error);
    expect(calls.count).toBe(1);
  });
});
