import type { RunEntry } from '../../core/protocol/run-entry.js';
import type { WaitingFact } from '../../core/run/run-facts.js';
import { onFailureIn, runFacts } from '../../core/run/run-facts.js';

/** The wait a run's history has in progress, or `undefined` (a wait's facts need no program: only its entries). */
export function waitingIn(history: readonly RunEntry[]): WaitingFact | undefined {
  return runFacts(history, onFailureIn(undefined)).waiting ?? undefined;
}

/**
 * A wait for people, as `lockstep runs` and `show` print it: `waiting for approve since T, expires T'` (a signal
 * wait's timeout), `due T'` (a delay) or `no expiry` (`timeout: never`). `time` formats an instant.
 */
export function waitingWords(fact: WaitingFact, time: (ms: number) => string): string {
  const end = fact.until === undefined ? 'no expiry' : `${fact.for === 'time' ? 'due' : 'expires'} ${time(fact.until)}`;
  return `waiting for ${fact.taskId} since ${time(fact.since)}, ${end}`;
}

/** A wait as `runs --json` and `show --json` print it: its task, what it waits for, since and until when (ms). */
export interface WaitingJson {
  readonly task: string;
  readonly for: WaitingFact['for'];
  readonly since: number;
  readonly until?: number;
}

export const waitingJson = (fact: WaitingFact): WaitingJson => ({
  task: fact.taskId,
  for: fact.for,
  since: fact.since,
  ...(fact.until === undefined ? {} : { until: fact.until }),
});
