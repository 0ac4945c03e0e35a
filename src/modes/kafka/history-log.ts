import { KafkaTransport } from '../../adapters/kafka/index.js';
import { ErrorCode, LockstepError } from '../../core/errors.js';
import { parseEnvelope, topicNames } from '../../core/protocol/envelope.js';
import type { HistoryRecord } from '../../core/protocol/history-record.js';
import { parseHistoryRecord } from '../../core/protocol/history-record.js';
import { sequenceQueues } from '../../core/sequence/queues.js';
import type { Phase, Sequence } from '../../core/sequence/types.js';
import { loadSequenceText } from '../../core/sequence/validate.js';
import { latestStates } from '../../runtime/journals/kafka/run-state-topic.js';
import type { KafkaModeOptions } from './connection.js';
import { resolveKafka } from './connection.js';
import { DefinitionsTopic } from './definitions-topic.js';
import type { RunHistory } from './history-topic.js';
import { HistoryBuilder } from './history-topic.js';

/** One run's history off the history topic, with the sequence it started with when the topics tell it. */
export interface LoggedHistory extends RunHistory {
  /** The definition the run started with (by the hash its state or its dispatches carry), else the only one of its name and version. */
  readonly sequence?: Sequence;
}

/** A `task.dispatch` record read off a command topic, redeliveries included. */
export interface LoggedDispatch {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly phase: Phase;
}

/** Everything {@link readHistoryLog} read. */
export interface HistoryLog {
  /** Every run of the history topic, its entries in `seq` order, each `seq` once. */
  readonly histories: readonly LoggedHistory[];
  /** The dispatches of the command topics read (none unless asked for). */
  readonly dispatches: readonly LoggedDispatch[];
  /** The command topics read for them. */
  readonly commandTopics: readonly string[];
  /**
   * Records of one run and `seq` whose entries differ: two writers disagreed on the run's history (the first one read
   * is kept). Identical copies (a record written again by an orchestrator that took the partition over) are not counted.
   */
  readonly conflicts: ReadonlyArray<{ readonly runId: string; readonly seq: number }>;
  /** Finds a sequence by name and version among the definitions read (and those given), when only one matches. */
  readonly sequenceOf: (name: string, version: string) => Sequence | undefined;
}

/** Options of {@link readHistoryLog}. */
export interface ReadHistoryLogOptions extends KafkaModeOptions {
  /** Read the `task.dispatch` records of the command topics too. @default false */
  readonly dispatches?: boolean;
  /** Sequences known besides the definitions topic's (the ones orchestrators load): they also name command topics. */
  readonly sequences?: readonly Sequence[];
}

/**
 * Reads the whole history topic (`<prefix>.history`), and with it the definitions and run-state topics to know
 * each run's sequence, and, when asked, the command topics: the full log of runs for the history checker
 * (`checkHistory` of `lockstep/testing`, `lockstep check-history --brokers`).
 *
 * @throws LockstepError TRANSPORT_UNAVAILABLE when the history topic does not exist.
 */
export async function readHistoryLog(options: ReadHistoryLogOptions = {}): Promise<HistoryLog> {
  const resolved = resolveKafka(options);
  const topics = topicNames(resolved.prefix);
  const transport = new KafkaTransport({ ...resolved, clientId: options.clientId ?? 'lockstep-history-log' });
  try {
    const all = async (topic: string) => {
      const count = (await transport.partitionCounts([topic])).get(topic);
      return count === undefined ? undefined : transport.readPartitions(topic, [...Array(count).keys()]);
    };
    const records = await all(topics.history);
    if (!records) {
      throw new LockstepError(
        ErrorCode.transportUnavailable,
        `topic ${topics.history} does not exist: create the topics first (lockstep topics create)`,
      );
    }
    const [runRecords, definitionTexts] = await Promise.all([all(topics.runs), new DefinitionsTopic(transport, resolved.prefix).all()]);
    const byHash = new Map<string, Sequence>();
    for (const [hash, text] of definitionTexts) {
      try {
        byHash.set(hash, loadSequenceText(text));
      } catch {
        // A definition that no longer validates tells nothing of its runs' rules.
      }
    }
    const known = [...byHash.values(), ...(options.sequences ?? [])];
    const sequenceOf = (name: string, version: string) => {
      const found = known.filter((s) => s.name === name && s.version === version);
      return found.length === 1 || found.every((s) => JSON.stringify(s) === JSON.stringify(found[0])) ? found[0] : undefined;
    };
    const commandTopics = options.dispatches ? sequenceQueues(known).map((q) => topics.commands(q)) : [];
    const dispatches: LoggedDispatch[] = [];
    const hashOfRun = new Map<string, string>();
    for (const topic of commandTopics) {
      for (const r of (await all(topic)) ?? []) {
        const parsed = r.value === null ? undefined : parseEnvelope(r.value);
        if (!parsed?.success || parsed.envelope.type !== 'task.dispatch') continue;
        const { runId, taskId, attempt, payload } = parsed.envelope;
        dispatches.push({ runId, taskId, attempt, phase: payload.phase });
        if (payload.definitionHash) hashOfRun.set(runId, payload.definitionHash);
      }
    }
    for (const [runId, { state }] of latestStates(runRecords ?? []).states) {
      if (state.definitionHash) hashOfRun.set(runId, state.definitionHash);
    }
    const { histories, conflicts } = buildHistories(records);
    return {
      histories: histories.map((h) => {
        const started = h.entries[0]?.type === 'run.started' ? h.entries[0] : undefined;
        const hash = hashOfRun.get(h.runId);
        const sequence = (hash ? byHash.get(hash) : undefined) ?? (started ? sequenceOf(started.sequence, started.version) : undefined);
        return sequence ? Object.assign(h, { sequence }) : h;
      }),
      dispatches,
      commandTopics,
      conflicts,
      sequenceOf,
    };
  } finally {
    await transport.close();
  }
}

/** Groups history records by run, each run's in `seq` order; a `seq` read again is dropped, and counted if it differs. */
function buildHistories(records: readonly { key: string | null; value: string | null }[]) {
  const byRun = new Map<string, HistoryRecord[]>();
  for (const r of records) {
    if (r.value === null) continue;
    const parsed = parseHistoryRecord(r.value);
    if (!parsed.success || (r.key !== null && r.key !== parsed.record.runId)) continue;
    const list = byRun.get(parsed.record.runId) ?? [];
    list.push(parsed.record);
    byRun.set(parsed.record.runId, list);
  }
  const conflicts: Array<{ runId: string; seq: number }> = [];
  const histories: HistoryBuilder[] = [];
  for (const [runId, list] of byRun) {
    const firstOfSeq = new Map<number, string>();
    const built = new HistoryBuilder(runId);
    // A stable sort: of the copies of one seq the first read comes first, and HistoryBuilder keeps it.
    for (const record of [...list].sort((a, b) => a.seq - b.seq)) {
      const text = JSON.stringify(record.entry);
      const first = firstOfSeq.get(record.seq);
      if (first === undefined) firstOfSeq.set(record.seq, text);
      else if (first !== text) conflicts.push({ runId, seq: record.seq });
      built.add(record);
    }
    histories.push(built);
  }
  return { histories, conflicts };
}
