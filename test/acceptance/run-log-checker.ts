// Checks a whole event log of Kafka mode: in every run, task i+1 was dispatched only after task i's success was
// applied (the dispatch was produced by the step that consumed that success event, and came after it), and no
// attempt was dispatched twice.
import type { Envelope } from '../../src/core/protocol/envelope.js';
import type { LogRecord } from '../support/kafka-log.js';

interface Parsed {
  readonly record: LogRecord;
  readonly env: Envelope;
}

function parse(records: readonly LogRecord[]): Parsed[] {
  const out: Parsed[] = [];
  for (const record of records) {
    try {
      const env = JSON.parse(record.value ?? '') as Envelope;
      if (env && typeof env === 'object' && typeof env.type === 'string') out.push({ record, env });
    } catch {
      // malformed input on purpose: not a lockstep message
    }
  }
  return out;
}

export interface CheckReport {
  readonly problems: string[];
  readonly runs: number;
  /** Dispatches of the checked runs. */
  readonly dispatches: number;
}

/**
 * @param order task ids of each run's sequence, in run order (every task expected to succeed on its first attempt).
 */
export function checkRunLog(
  events: readonly LogRecord[],
  commands: readonly LogRecord[],
  runIds: readonly string[],
  order: readonly string[],
): CheckReport {
  const problems: string[] = [];
  const byId = new Map<string, Parsed>();
  for (const p of parse(events)) if (!byId.has(p.env.id)) byId.set(p.env.id, p);
  const dispatches = new Map<string, Parsed[]>();
  let total = 0;
  for (const p of parse(commands)) {
    if (p.env.type !== 'task.dispatch') continue;
    const list = dispatches.get(p.env.runId) ?? [];
    list.push(p);
    dispatches.set(p.env.runId, list);
  }
  for (const runId of runIds) {
    total += dispatches.get(runId)?.length ?? 0;
    const list = (dispatches.get(runId) ?? []).sort((a, b) => (a.record.offset < b.record.offset ? -1 : 1));
    const seen = new Set<string>();
    for (const d of list) {
      const env = d.env as Extract<Envelope, { type: 'task.dispatch' }>;
      const key = `${env.taskId}:${env.attempt}`;
      if (seen.has(key)) problems.push(`${runId}: attempt ${key} dispatched twice`);
      seen.add(key);
    }
    const tasks = list.map((d) => (d.env as Extract<Envelope, { type: 'task.dispatch' }>).taskId);
    if (tasks.join(',') !== order.join(','))
      problems.push(`${runId}: dispatched ${tasks.join(',') || 'nothing'}, expected ${order.join(',')}`);
    list.forEach((d, i) => {
      const env = d.env as Extract<Envelope, { type: 'task.dispatch' }>;
      const cause = env.causationId ? byId.get(env.causationId) : undefined;
      if (!cause) {
        problems.push(`${runId}: dispatch of ${env.taskId} names no cause found in the events log (${env.causationId ?? 'none'})`);
        return;
      }
      if (cause.env.runId !== runId) problems.push(`${runId}: dispatch of ${env.taskId} caused by an event of run ${cause.env.runId}`);
      if (cause.record.timestamp > d.record.timestamp) problems.push(`${runId}: dispatch of ${env.taskId} written before its cause`);
      if (i === 0) {
        if (cause.env.type !== 'run.start') problems.push(`${runId}: first dispatch caused by ${cause.env.type}, not run.start`);
        return;
      }
      const previous = list[i - 1]!.env as Extract<Envelope, { type: 'task.dispatch' }>;
      const ok = cause.env.type === 'task.succeeded' && cause.env.taskId === previous.taskId && cause.env.attempt === previous.attempt;
      if (!ok)
        problems.push(
          `${runId}: ${env.taskId} dispatched after ${cause.env.type} ${'taskId' in cause.env ? cause.env.taskId : ''}, not after the success of ${previous.taskId}`,
        );
    });
  }
  return { problems, runs: runIds.length, dispatches: total };
}
