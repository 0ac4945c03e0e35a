// The one place that resolves where Kafka mode connects: given options, then the environment, then defaults.
import { describe, expect, it } from 'vitest';
import { ErrorCode, LockstepError } from '../../../src/core/errors.js';
import { resolveKafka, topicPrefix } from '../../../src/modes/kafka/connection.js';

describe('resolveKafka', () => {
  it('takes what is given over the environment', () => {
    const env = { KAFKA_BROKERS: 'env:9092', LOCKSTEP_TOPIC_PREFIX: 'from-env', LOCKSTEP_KAFKA_LOG_LEVEL: 'debug' };
    expect(resolveKafka({ brokers: 'given:9092', prefix: 'given', logLevel: 'warn' }, env)).toMatchObject({
      brokers: 'given:9092',
      prefix: 'given',
      logLevel: 'warn',
    });
  });

  it('falls back to KAFKA_BROKERS, LOCKSTEP_TOPIC_PREFIX and LOCKSTEP_KAFKA_LOG_LEVEL, then to the defaults', () => {
    expect(resolveKafka({}, { KAFKA_BROKERS: 'a:1,b:2', LOCKSTEP_TOPIC_PREFIX: 'p', LOCKSTEP_KAFKA_LOG_LEVEL: 'info' })).toEqual({
      brokers: 'a:1,b:2',
      prefix: 'p',
      logLevel: 'info',
    });
    expect(resolveKafka({}, { KAFKA_BROKERS: 'a:1' })).toEqual({ brokers: 'a:1', prefix: 'lockstep' });
    // An empty variable is unset; an unknown log level is ignored.
    expect(resolveKafka({ brokers: ['x:1'] }, { LOCKSTEP_TOPIC_PREFIX: '', LOCKSTEP_KAFKA_LOG_LEVEL: 'loud' })).toEqual({
      brokers: ['x:1'],
      prefix: 'lockstep',
    });
    expect(topicPrefix(undefined, { LOCKSTEP_TOPIC_PREFIX: 'p' })).toBe('p');
    expect(topicPrefix('q', { LOCKSTEP_TOPIC_PREFIX: 'p' })).toBe('q');
  });

  it('keeps the other options as they are', () => {
    const log = () => {};
    expect(resolveKafka({ clientId: 'me', log }, { KAFKA_BROKERS: 'a:1' })).toMatchObject({ clientId: 'me', log, brokers: 'a:1' });
  });

  it('says where brokers come from when there are none', () => {
    for (const [given, env] of [
      [{}, {}],
      [{}, { KAFKA_BROKERS: '' }],
      [{ brokers: ' ' }, {}],
      [{ brokers: [] }, { KAFKA_BROKERS: 'ignored:1' }],
    ] as const) {
      let error: unknown;
      try {
        resolveKafka(given, env);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(LockstepError);
      expect(error).toMatchObject({
        code: ErrorCode.invalidUsage,
        message: 'no Kafka brokers: pass --brokers host:port or set KAFKA_BROKERS',
      });
    }
  });
});
