import { initialRunContext } from '../../core/compile/machine.js';
import type { RunContext } from '../../core/compile/types.js';
import type { StateValue } from '../../core/graph/model.js';
import type { HistoryRecord } from '../../core/protocol/history-record.js';
import type { RunEntry } from '../../core/protocol/run-entry.js';
import { isFinalEntry } from '../../core/protocol/run-entry.js';
import type { RunState } from '../../core/protocol/run-state.js';
import type { OnFailureOf, RunFacts } from '../../core/run/run-facts.js';
import { onFailureIn, runFacts } from '../../core/run/run-facts.js';
import type { RunRecord } from '../../ports/run-store.js';

/** A run's history as the history topic holds it. */
export interface RunHistory {
  readonly runId: string;
  /** The entries in order, each once. */
  readonly entries: readonly RunEntry[];
  /** `states[i]` is the run's state value right after `entries[i]`, as the orchestrator wrote it. */
  readonly states: readonly StateValue[];
  /** The `seq` of `entries[0]`: above 0 when the topic's retention has deleted the run's first records. */
  readonly from: number;
}

/** What {@link HistoryBuilder.add} made of a record. */
export type Added = 'appended' | 'duplicate' | 'gap';

/**
 * Builds one run's history from its records on the history topic, in the order they are read. A record whose
 * `seq` was seen already (redelivered: an orchestrator that took a partition over wrote it again) is dropped.
 */
export class HistoryBuilder implements RunHistory {
  readonly runId: string;
  readonly entries: RunEntry[] = [];
  readonly states: StateValue[] = [];
  #from = -1;

  constructor(runId: string) {
    this.runId = runId;
  }

  get from(): number {
    return Math.max(0, this.#from);
  }

  /** Whether the history is whole: it starts with the run's first entry. */
  get complete(): boolean {
    return this.#from === 0;
  }

  /** The next `seq` this run's history expects. */
  get next(): number {
    return this.from + this.entries.length;
  }

  /** Adds a record; `gap` says records between the last one and this one are missing (it is added all the same). */
  add(record: HistoryRecord): Added {
    if (this.#from < 0) this.#from = record.seq;
    else if (record.seq < this.next) return 'duplicate';
    const added: Added = record.seq > this.next ? 'gap' : 'appended';
    this.entries.push(record.entry);
    this.states.push(record.state);
    return added;
  }
}

/** The context of a run-state record, typed; the fields a partial record lacks are empty. */
export const contextOf = (state: RunState): RunContext =>
  ({ ...initialRunContext(state.runId, null), ...state.snapshot.context }) as RunContext;

/** A run's facts from the context of its latest run-state record: where its history is not whole, they stand for it. */
export const factsOfState = (state: RunState): RunFacts => contextOf(state);

/**
 * A run's record as lockstep shows it (`show`, `serve`), from its latest run-state record and its history, either of
 * which may be missing: the run-state record (deleted a while after the run ended) gives status and definition hash,
 * the history (subject to the topic's retention) the start. `undefined` when neither tells the run's sequence.
 */
export function runRecordOf(
  state: RunState | undefined,
  history: RunHistory | undefined,
  onFailureOf: OnFailureOf = onFailureIn(undefined),
): RunRecord | undefined {
  const fromHistory = history && recordOfHistory(history, onFailureOf);
  if (!state) return fromHistory;
  const context = contextOf(state);
  const reason = state.final?.reason ?? context.reason;
  const record: RunRecord = {
    runId: state.runId,
    sequence: state.sequence,
    version: state.version,
    definition: '',
    definitionHash: state.definitionHash ?? '',
    input: fromHistory ? fromHistory.input : (context.input ?? null),
    status: state.status,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    ...(state.currentTask ? { currentTask: state.currentTask } : {}),
    ...(reason ? { reason } : {}),
    ...(fromHistory?.rerunOf ? { rerunOf: fromHistory.rerunOf } : {}),
  };
  // Both topics are written in one transaction, but read by two consumers: the one that is further on wins.
  if (!fromHistory || fromHistory.updatedAt <= record.updatedAt) return record;
  const { status, updatedAt, currentTask } = fromHistory;
  const why = fromHistory.reason ?? reason;
  const { currentTask: _task, reason: _reason, ...rest } = record;
  return { ...rest, status, updatedAt, ...(currentTask ? { currentTask } : {}), ...(why ? { reason: why } : {}) };
}

/** A run's record from its whole history alone; `undefined` when retention has cut its start. */
function recordOfHistory(history: RunHistory, onFailureOf: OnFailureOf): RunRecord | undefined {
  const entries = history.entries;
  const started = history.from === 0 && entries[0]?.type === 'run.started' ? entries[0] : undefined;
  if (!started) return undefined;
  const final = entries.find(isFinalEntry);
  // As stores have it: the task started last, or, once the run failed, the task that failed it.
  const lastStarted = entries.findLast((e) => e.type === 'task.started');
  const currentTask = final
    ? final.outcome === 'succeeded'
      ? undefined
      : runFacts(entries, onFailureOf).error?.taskId
    : lastStarted?.type === 'task.started'
      ? lastStarted.task
      : undefined;
  return {
    runId: started.runId,
    sequence: started.sequence,
    version: started.version,
    definition: '',
    definitionHash: '',
    input: started.input,
    status: final?.outcome ?? 'running',
    createdAt: started.at,
    updatedAt: entries.at(-1)!.at,
    ...(currentTask ? { currentTask } : {}),
    ...(final?.reason ? { reason: final.reason } : {}),
    ...(started.rerunOf ? { rerunOf: started.rerunOf } : {}),
  };
}
