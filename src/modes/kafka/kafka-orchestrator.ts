import { randomUUID } from 'node:crypto';
import type { TopicReport } from '../../adapters/kafka/index.js';
import { KafkaTransport } from '../../adapters/kafka/index.js';
import { processTracer } from '../../adapters/otel/index.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { topicNames } from '../../core/protocol/envelope.js';
import { ProgramRegistry } from '../../core/run/registry.js';
import type { Sequence } from '../../core/sequence/types.js';
import type { Clock } from '../../ports/clock.js';
import type { RunMetrics } from '../../ports/metrics.js';
import type { RunTracer } from '../../ports/run-tracer.js';
import { KafkaJournal } from '../../runtime/journals/kafka/kafka-journal.js';
import { Orchestrator } from '../../runtime/orchestrator.js';
import { outputTopics } from '../../runtime/record-guard.js';
import { systemClock } from '../../runtime/system-clock.js';
import type { KafkaModeOptions } from './connection.js';
import { queuesOf, resolveKafka } from './connection.js';
import { DefinitionsTopic } from './definitions-topic.js';

/** Options of {@link startKafkaOrchestrator}: `sequences`, a `registry`, or both. */
export interface KafkaOrchestratorOptions extends KafkaModeOptions {
  /** Sequences this orchestrator can run, e.g. from files (`loadSequences(dir)`); `sequences` are added to it. */
  readonly registry?: ProgramRegistry;
  /**
   * Sequences made in code (`sequence(...).build()`). The orchestrator needs only their structure: their function
   * tasks run on the workers of their queue that have the code (`createWorker({ sequences })`).
   */
  readonly sequences?: readonly Sequence[];
  /** Creates missing topics with this many partitions. Without it, the topics must exist. */
  readonly partitions?: number;
  /** Consumer group of the orchestrators: members split the events topic's partitions. @default '<prefix>-orchestrators' */
  readonly group?: string;
  /** @default the system clock */
  readonly clock?: Clock;
  /**
   * How long a finished run's state stays on the run-state topic (for `status`, `wait`, and to ignore a duplicate
   * start) before it is deleted. @default 7 days
   */
  readonly keepFinishedMs?: number;
  /**
   * How long `<prefix>.history` keeps each run's entries, when this orchestrator creates it (a missing history topic
   * is always created, with the events topic's partition count; existing topics are left as they are). @default 7 days
   */
  readonly historyRetentionMs?: number;
  /**
   * Counts the runs of this orchestrator: every entry it records, its ignored events, dead letters and runs in
   * flight, and its group's lag on the events topic (read at scrape time).
   */
  readonly metrics?: RunMetrics;
  /** Receives the transport's diagnostics (fencing, redeliveries). */
  readonly onLog?: (message: string, extra?: Record<string, unknown>) => void;
  /**
   * Where runs' traces go. @default the OTLP exporter the standard `OTEL_*` variables ask for, if any (the
   * OpenTelemetry packages are loaded only then); `false` traces nothing
   */
  readonly tracer?: RunTracer | false;
}

/** A running Kafka-mode orchestrator. */
export interface KafkaOrchestrator {
  readonly orchestrator: Orchestrator;
  readonly transport: KafkaTransport;
  readonly topics: TopicReport;
  close(): Promise<void>;
}

/**
 * Starts an orchestrator as a member of the orchestrators' consumer group. It creates missing topics (with
 * `partitions`), publishes the definitions it knows to the definitions topic, restores the runs of the partitions
 * it is assigned from the run-state topic, and advances runs exactly once: each batch's commands, the touched
 * runs' new state and the position reached in the events partition (a `partition.offset` record on the run-state
 * topic) commit in one fenced transaction per partition.
 *
 * A run goes on under the exact definition it started with, whichever orchestrator takes it on: restoring finds it
 * by the hash its state carries, here or on the definitions topic, even after its file changed under the same
 * version. New runs use what this orchestrator knows.
 *
 * @throws LockstepError INVALID_USAGE without sequences; TRANSPORT_UNAVAILABLE when the topics are missing and no
 * partition count was given.
 */
export async function startKafkaOrchestrator(options: KafkaOrchestratorOptions): Promise<KafkaOrchestrator> {
  const resolved = resolveKafka(options);
  const prefix = resolved.prefix;
  const registry = registryOf(options);
  let tracer: RunTracer | undefined;
  const transport = new KafkaTransport({
    ...resolved,
    clientId: options.clientId ?? `lockstep-orchestrator-${randomUUID().slice(0, 8)}`,
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  try {
    const topics = await prepareTopics(transport, prefix, options.partitions, queuesOf(registry), options.historyRetentionMs);
    const clock = options.clock ?? systemClock;
    const names = topicNames(prefix);
    const definitions = new DefinitionsTopic(transport, prefix, options.onLog ?? (() => {}));
    // Before any run starts here: whoever takes one of its runs on must find the definition it started with.
    await definitions.publish(registry);
    const recordLimits = await transport.recordLimits(outputTopics(registry, names, 'default'));
    const journal = new KafkaJournal({
      log: transport,
      topics: names,
      registry,
      definitions: definitions.lookup,
      clock,
      limits: recordLimits,
      ...(options.keepFinishedMs === undefined ? {} : { keepFinishedMs: options.keepFinishedMs }),
    });
    const group = options.group ?? `${prefix}-orchestrators`;
    const { metrics } = options;
    tracer = options.tracer === undefined ? await processTracer() : options.tracer || undefined;
    const orchestrator = new Orchestrator({
      transport,
      journal,
      clock,
      registry,
      topicPrefix: prefix,
      group,
      recordLimits,
      ...(tracer ? { tracer } : {}),
      ...(metrics ? { onEntry: (entry, _state, sequence) => metrics.observe(entry, sequence) } : {}),
    });
    if (metrics) {
      metrics.watch(orchestrator);
      metrics.watchLag(() => transport.consumerLag(names.events, group));
    }
    await orchestrator.start();
    return {
      orchestrator,
      transport,
      topics,
      async close() {
        await orchestrator.close();
        await transport.close();
        await tracer?.close();
      },
    };
  } catch (error) {
    await transport.close().catch(() => {});
    await tracer?.close().catch(() => {});
    throw error;
  }
}

/** The registry of an orchestrator: the one given, with the sequences made in code added. */
function registryOf(options: KafkaOrchestratorOptions): ProgramRegistry {
  if (!options.registry && !options.sequences?.length) {
    throw new LockstepError(
      ErrorCode.invalidUsage,
      'startKafkaOrchestrator needs sequences to run: pass `sequences` (made with sequence(...).build()) or a `registry` (loadSequences(dir))',
    );
  }
  const registry = options.registry ?? new ProgramRegistry();
  for (const sequence of options.sequences ?? []) registry.registerSequence(sequence);
  return registry;
}

async function prepareTopics(
  transport: KafkaTransport,
  prefix: string,
  partitions: number | undefined,
  queues: string[],
  historyRetentionMs: number | undefined,
): Promise<TopicReport> {
  const retention = historyRetentionMs === undefined ? {} : { historyRetentionMs };
  if (partitions !== undefined) return transport.ensureTopics({ prefix, partitions, queues, ...retention });
  const names = topicNames(prefix);
  const wanted = [names.events, names.runs, names.deadLetter, ...queues.map((q) => names.commands(q))];
  const counts = await transport.partitionCounts(wanted);
  const missing = wanted.filter((t) => !counts.has(t));
  if (missing.length > 0) {
    throw new LockstepError(
      ErrorCode.transportUnavailable,
      `missing topics ${missing.join(', ')}: run \`lockstep topics create --partitions N\` or pass --partitions N`,
    );
  }
  // Topics made before lockstep kept history and definitions lack those two: they are the only ones created here.
  const created: string[] = [];
  if (await transport.ensureHistoryTopic({ prefix, ...(historyRetentionMs === undefined ? {} : { retentionMs: historyRetentionMs }) }))
    created.push(names.history);
  if (await transport.ensureDefinitionsTopic(prefix)) created.push(names.definitions);
  return {
    created,
    existing: [...wanted, ...[names.history, names.definitions].filter((t) => !created.includes(t))],
    partitions: counts.get(names.events) ?? 0,
  };
}
