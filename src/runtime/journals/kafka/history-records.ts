import { PROTOCOL_VERSION } from '../../../core/protocol/envelope.js';
import type { HistoryRecord } from '../../../core/protocol/history-record.js';
import type { JournalEntry } from '../../../ports/journal.js';
import type { TopicMessage } from '../../../ports/transport.js';
import { cut } from '../../record-limits.js';

/** A record of the history topic. */
export type HistoryMessage = TopicMessage & { readonly value: HistoryRecord };

/** The history record of a run's entry number `seq` (from 0), keyed by run id like the run's events. */
export function historyRecordOf(topic: string, seq: number, { entry, state }: JournalEntry): HistoryMessage {
  return { topic, key: entry.runId, value: { v: PROTOCOL_VERSION, type: 'run.entry', runId: entry.runId, seq, entry, state } };
}

/** The fields of an entry that carry data from outside (input, results, errors, the machine event). */
const DATA_FIELDS = ['input', 'result', 'error', 'event'] as const;
/** What every entry keeps, however far it is reduced. */
const KEPT_FIELDS = new Set(['type', 'runId', 'at', 'task', 'attempt', 'phase']);

/** The entry without `fields`, and the names of those it had. */
function without(entry: Record<string, unknown>, drop: (field: string) => boolean): { entry: Record<string, unknown>; dropped: string[] } {
  const kept = Object.fromEntries(Object.entries(entry).filter(([k]) => !drop(k)));
  return {
    entry: kept,
    dropped: Object.keys(entry)
      .filter(drop)
      .map((k) => `entry.${k}`),
  };
}

/**
 * The record without its entry's machine event: for a report (`task.succeeded`, `task.failed`) that is the same
 * result or error once more, so the record is about half the size. The first reduction of one that does not fit.
 */
export function eventlessHistoryRecord(record: HistoryMessage, reason: string): HistoryMessage {
  const { entry, dropped } = without(record.value.entry as unknown as Record<string, unknown>, (k) => k === 'event');
  return { ...record, value: { ...record.value, entry: entry as never, reduced: { reason: cut(reason, 1_000), dropped } } };
}

/**
 * A history record that fits `fits`: without the entry's machine event first ({@link eventlessHistoryRecord}), then
 * without every data field ({@link DATA_FIELDS}), then with only its type, run, time and task. `reduced` says what
 * was left out and why; the record keeps its `seq`, so the run's history has no gap.
 */
export function reducedHistoryRecord(record: HistoryMessage, reason: string, fits: (record: HistoryMessage) => boolean): HistoryMessage {
  const entry = record.value.entry as unknown as Record<string, unknown>;
  const note = cut(reason, 1_000);
  const levels = [(k: string) => k === 'event', (k: string) => (DATA_FIELDS as readonly string[]).includes(k)];
  for (const drop of levels) {
    const reduced = without(entry, drop);
    const candidate: HistoryMessage = {
      ...record,
      value: { ...record.value, entry: reduced.entry as never, reduced: { reason: note, dropped: reduced.dropped } },
    };
    if (fits(candidate)) return candidate;
  }
  const bare = without(entry, (k) => !KEPT_FIELDS.has(k));
  return { ...record, value: { ...record.value, entry: bare.entry as never, reduced: { reason: note, dropped: bare.dropped } } };
}
