// Producing to lockstep's events topic as any other producer would: a plain kafkajs producer, murmur2 partitioning
// (kafkajs' DefaultPartitioner, Java's default), keyed by run id so a run's messages share its partition.
import { createHash } from 'node:crypto';
import type { Producer } from 'kafkajs';
import kafkajs from 'kafkajs';
import type { Envelope } from '../../../src/core/protocol/envelope.js';
import type { RunHistory } from '../../../src/testing/history-checker.js';
import { plainKafka } from '../../support/kafka-log.js';
import type { Deployment } from './deployment.js';

export class EventsProducer {
  sent = 0;
  private constructor(
    readonly topic: string,
    readonly producer: Producer,
  ) {}

  static async connect(d: Deployment): Promise<EventsProducer> {
    const producer = plainKafka(d.brokers).producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    return new EventsProducer(d.topics.events, producer);
  }

  async send(messages: ReadonlyArray<{ key: string; value: string }>): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send({ topic: this.topic, messages: messages.map((m) => ({ key: m.key, value: m.value })) });
    this.sent += messages.length;
  }

  close(): Promise<void> {
    return this.producer.disconnect();
  }
}

/** The completion events (`task.succeeded`, `task.failed`) read off the events topic so far. */
export function completions(d: Deployment): Array<Extract<Envelope, { type: 'task.succeeded' | 'task.failed' }>> {
  const out: Array<Extract<Envelope, { type: 'task.succeeded' | 'task.failed' }>> = [];
  for (const r of d.of(d.topics.events)) {
    if (!r.value?.includes('"task.')) continue;
    try {
      const env = JSON.parse(r.value) as Envelope;
      if ((env.type === 'task.succeeded' || env.type === 'task.failed') && env.v === 1) out.push(env);
    } catch {
      // Not lockstep's: a scenario's own malformed message.
    }
  }
  return out;
}

export const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * What advanced a run, per main-phase task: the attempts whose `task.succeeded` / `task.failed` entries the run
 * recorded. A task that succeeded twice, or tasks out of the sequence's order, show here.
 */
export function advancements(history: RunHistory): { succeeded: string[]; failed: string[]; ignored: number } {
  const succeeded: string[] = [];
  const failed: string[] = [];
  let ignored = 0;
  for (const e of history.entries) {
    if (e.type === 'task.succeeded' && e.phase === 'main') succeeded.push(e.task);
    else if (e.type === 'task.failed' && e.phase === 'main') failed.push(`${e.task}#${e.attempt}`);
    else if (e.type === 'event.ignored') ignored++;
  }
  return { succeeded, failed, ignored };
}
