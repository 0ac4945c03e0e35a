// Test helpers for Kafka mode: read whole topics with a plain kafkajs consumer, and run lockstep services as
// separate OS processes.

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import kafkajs from 'kafkajs';
import { BIN, ROOT } from './cli.js';

/** A record as read from a topic (committed only). */
export interface LogRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string | null;
  readonly value: string | null;
  readonly timestamp: number;
}

export function plainKafka(brokers: string): Kafka {
  return new kafkajs.Kafka({
    clientId: `test-${randomUUID().slice(0, 8)}`,
    brokers: brokers.split(','),
    logLevel: kafkajs.logLevel.NOTHING,
  });
}

/**
 * Follows topics from their beginning (read_committed) and keeps every record once: after a broker restart the
 * group (which commits nothing) reads its topics from the beginning again, and records already kept are skipped.
 */
export class TopicLog {
  readonly records: LogRecord[] = [];
  readonly #consumer: Consumer;
  private constructor(consumer: Consumer) {
    this.#consumer = consumer;
  }

  static async start(kafka: Kafka, topics: readonly string[], onRecord?: (r: LogRecord) => void): Promise<TopicLog> {
    const consumer = kafka.consumer({ groupId: `test-log-${randomUUID()}`, maxWaitTimeInMs: 50 });
    const log = new TopicLog(consumer);
    const next = new Map<string, bigint>();
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const key = `${batch.topic}/${batch.partition}`;
        for (const m of batch.messages) {
          if (BigInt(m.offset) < (next.get(key) ?? 0n)) continue;
          next.set(key, BigInt(m.offset) + 1n);
          const r: LogRecord = {
            topic: batch.topic,
            partition: batch.partition,
            offset: BigInt(m.offset),
            key: m.key?.toString() ?? null,
            value: m.value?.toString() ?? null,
            timestamp: Number(m.timestamp),
          };
          log.records.push(r);
          onRecord?.(r);
        }
      },
    });
    return log;
  }

  of(topic: string): LogRecord[] {
    return this.records.filter((r) => r.topic === topic);
  }

  stop(): Promise<void> {
    return this.#consumer.disconnect();
  }
}

/** A lockstep service (`orchestrator`, `worker`) running as its own process. */
export interface Service {
  readonly child: ChildProcess;
  readonly name: string;
  /** Resolves with the service's `ready` line. */
  readonly ready: Promise<Record<string, unknown>>;
  /** JSON lines printed on stdout so far. */
  readonly lines: Array<Record<string, unknown>>;
  stderr(): string;
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startService(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Service {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  let pending = '';
  let onReady!: (line: Record<string, unknown>) => void;
  let onFail!: (error: Error) => void;
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  child.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const p of parts) {
      if (!p.startsWith('{')) continue;
      const line = JSON.parse(p) as Record<string, unknown>;
      lines.push(line);
      if (line.event === 'ready') onReady(line);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      onFail(new Error(`${name} exited with ${code} before it was ready:\n${err}`));
      resolve(code);
    }),
  );
  return {
    child,
    name,
    ready,
    lines,
    exited,
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
