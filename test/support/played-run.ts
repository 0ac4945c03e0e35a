// Plays a Kafka orchestrator for the readers of its topics (`lockstep show --brokers`, `serve --brokers`): steps a
// real program and writes, as orchestrators do, every history entry with the run's state value after it to
// <prefix>.history, and the run's state record to <prefix>.runs.
import type { KafkaTransport } from '../../src/adapters/kafka/index.js';
import type { RunContext, RunEvent } from '../../src/core/compile/types.js';
import type { StateValue } from '../../src/core/graph/model.js';
import { PROTOCOL_VERSION, topicNames } from '../../src/core/protocol/envelope.js';
import type { HistoryRecord } from '../../src/core/protocol/history-record.js';
import type { FinalEntry, RunEntry } from '../../src/core/protocol/run-entry.js';
import { isFinalEntry } from '../../src/core/protocol/run-entry.js';
import type { RunState } from '../../src/core/protocol/run-state.js';
import type { LiveRun, Reuse } from '../../src/core/run/live-run.js';
import { advance, beginRun } from '../../src/core/run/live-run.js';
import type { Program } from '../../src/core/step.js';
import type { RunRecord } from '../../src/ports/run-store.js';
import { runStateOf } from '../../src/runtime/journals/kafka/run-state-topic.js';
import { rawAdmin } from './raw-kafka.js';

/** One recorded entry: what the orchestrator wrote to the history topic, and the whole context (to check views against). */
export interface PlayedEntry {
  readonly entry: RunEntry;
  readonly state: StateValue;
  readonly context: RunContext;
  /** Whether it is the last entry of its step: the context is then the one right after it. */
  readonly last: boolean;
}

/**
 * Creates `<prefix>.history` with the events topic's partition count when it does not exist yet (the topics a
 * deployment creates include it once orchestrators write it).
 */
export async function ensureHistoryTopic(brokers: string, prefix: string, partitions: number): Promise<void> {
  const admin = await rawAdmin(brokers);
  try {
    const topic = topicNames(prefix).history;
    if ((await admin.listTopics()).includes(topic)) return;
    await admin
      .createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] })
      .catch((error: unknown) => {
        if (!String((error as Error).message).includes('already exists')) throw error;
      });
  } finally {
    await admin.disconnect();
  }
}

/** A run driven by the test: each step writes its entries and state the way an orchestrator commits them. */
export class PlayedRun {
  readonly played: PlayedEntry[] = [];
  readonly run: LiveRun;
  #now: number;
  #final: FinalEntry | undefined;
  readonly #transport: KafkaTransport;
  readonly #topics: ReturnType<typeof topicNames>;
  readonly #pending: PlayedEntry[];
  readonly #historyFrom: number;
  readonly #definitionHash: string | undefined;

  /** `historyFrom`: entries before this `seq` are not written, as if the topic's retention had deleted them. */
  constructor(
    transport: KafkaTransport,
    prefix: string,
    program: Program,
    options: {
      runId: string;
      input?: unknown;
      at?: number;
      reuse?: Reuse;
      rerunOf?: string;
      historyFrom?: number;
      definitionHash?: string;
    },
  ) {
    this.#transport = transport;
    this.#historyFrom = options.historyFrom ?? 0;
    this.#definitionHash = options.definitionHash;
    this.#topics = topicNames(prefix);
    this.#now = options.at ?? Date.now();
    const began = beginRun(program, {
      runId: options.runId,
      input: options.input,
      at: this.#now,
      ...(options.reuse ? { reuse: options.reuse } : {}),
      ...(options.rerunOf ? { rerunOf: options.rerunOf } : {}),
    });
    this.run = began.run;
    this.#pending = this.#record(began.entries);
  }

  get entries(): RunEntry[] {
    return this.played.map((p) => p.entry);
  }

  get ended(): boolean {
    return this.#final !== undefined;
  }

  /** Writes the start (its first entries and state record). */
  begin(): Promise<void> {
    return this.#write(this.#pending);
  }

  /** Applies an event `ms` later and writes what it recorded. */
  async step(event: RunEvent, ms = 25): Promise<RunEntry[]> {
    this.#now += ms;
    const step = advance(this.run, event, this.#now);
    const recorded = this.#record(step.entries);
    await this.#write(recorded);
    return step.entries;
  }

  /** The history record of entry `seq`, as written. */
  historyRecord(seq: number): HistoryRecord {
    const p = this.played[seq]!;
    return { v: PROTOCOL_VERSION, type: 'run.entry', runId: this.run.runId, seq, entry: p.entry, state: p.state };
  }

  /** The run's state record now. */
  stateRecord(): RunState {
    const meta = {
      entries: this.played.length,
      ...(this.#final ? { final: this.#final } : {}),
      ...(this.#definitionHash ? { definitionHash: this.#definitionHash } : {}),
    };
    return runStateOf(this.run, meta, this.#now);
  }

  /** The record an embedded store keeps of the run, with `definition` as its text. */
  storeRecord(definition: string, definitionHash: string): RunRecord {
    const started = this.played[0]!.entry;
    if (started.type !== 'run.started') throw new Error('no run.started');
    const lastStarted = this.entries.findLast((e) => e.type === 'task.started');
    const failed = this.#final && this.#final.outcome !== 'succeeded' ? this.run.snapshot.context.error?.taskId : undefined;
    const currentTask = this.#final ? failed : lastStarted?.type === 'task.started' ? lastStarted.task : undefined;
    return {
      runId: this.run.runId,
      sequence: started.sequence,
      version: started.version,
      definition,
      definitionHash,
      input: started.input,
      status: this.#final?.outcome ?? 'running',
      createdAt: started.at,
      updatedAt: this.entries.at(-1)!.at,
      ...(currentTask ? { currentTask } : {}),
      ...(this.#final?.reason ? { reason: this.#final.reason } : {}),
      ...(started.rerunOf ? { rerunOf: started.rerunOf } : {}),
    };
  }

  /** Writes raw records of this run to the history topic (to replay a redelivery, say). */
  rewrite(seqs: readonly number[]): Promise<void> {
    return this.#transport.publish(
      seqs.map((seq) => ({ topic: this.#topics.history, key: this.run.runId, value: this.historyRecord(seq) as never })),
    );
  }

  #record(entries: readonly RunEntry[]): PlayedEntry[] {
    const snapshot = this.run.program.persist(this.run.snapshot);
    const recorded = entries.map((entry, i) => ({
      entry,
      state: snapshot.value as StateValue,
      context: structuredClone(snapshot.context),
      last: i === entries.length - 1,
    }));
    this.played.push(...recorded);
    this.#final ??= entries.find(isFinalEntry);
    return recorded;
  }

  async #write(recorded: readonly PlayedEntry[]): Promise<void> {
    const first = this.played.length - recorded.length;
    const seqs = recorded.map((_, i) => first + i).filter((seq) => seq >= this.#historyFrom);
    await this.#transport.publish([
      ...seqs.map((seq) => ({ topic: this.#topics.history, key: this.run.runId, value: this.historyRecord(seq) as never })),
      { topic: this.#topics.runs, key: this.run.runId, value: this.stateRecord() },
    ]);
  }
}
