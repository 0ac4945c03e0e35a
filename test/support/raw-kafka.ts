// The Kafka client itself, for tests that play a part lockstep's adapter keeps to itself: another producer with a
// member's transactional id, a group's offsets, topic settings the broker is told to change.
import type { Admin, Kafka } from 'kafkajs';
import { createKafka } from '../../src/adapters/kafka/kafka-client.js';

/** A kafkajs client with lockstep's connection settings. */
export function rawKafka(brokers: string, clientId = 'lockstep-test'): Kafka {
  return createKafka({ brokers, clientId, logLevel: 'nothing' });
}

/** A connected kafkajs admin client; disconnect it when done. */
export async function rawAdmin(brokers: string): Promise<Admin> {
  const admin = rawKafka(brokers, 'lockstep-test-admin').admin();
  await admin.connect();
  return admin;
}
