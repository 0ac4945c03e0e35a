import type { EdgeKind, GraphGuard } from './model.js';

/** What {@link describeTransition} needs to know about one transition. */
export interface TransitionFacts {
  /** The event type, or `null` for an eventless transition. */
  readonly event: string | null;
  readonly guard?: GraphGuard;
  /** The actions of the transition, as in the machine config (`{ type, params }` objects or names). */
  readonly actions: readonly unknown[];
  /** Guards of the other eventless transitions of the same state, in order. */
  readonly siblingGuards: readonly (GraphGuard | undefined)[];
}

/** Label and kind of a transition. */
export interface TransitionDescription {
  readonly label: string;
  readonly kind: EdgeKind;
}

/** `stop` or `continue`, read from the `recordFailure` action of an exhausted failure. */
function failureMode(actions: readonly unknown[]): 'stop' | 'continue' | undefined {
  for (const action of actions) {
    if (typeof action !== 'object' || action === null) continue;
    const { type, params } = action as { type?: unknown; params?: unknown };
    if (type !== 'recordFailure' || typeof params !== 'object' || params === null) continue;
    const { phase, onFailure } = params as { phase?: unknown; onFailure?: unknown };
    return phase === 'main' && onFailure === 'stop' ? 'stop' : 'continue';
  }
  return undefined;
}

function eventless(facts: TransitionFacts): TransitionDescription {
  const { guard } = facts;
  if (guard?.type === 'wasCompleted') return { label: 'was completed', kind: 'progress' };
  if (guard?.type === 'notStopping') return { label: 'stopped attempt ended', kind: 'progress' };
  if (guard?.type === 'outcomeIs') return { label: `outcome: ${String(guard.params?.['outcome'])}`, kind: 'progress' };
  if (guard) return { label: `[${guard.type}]`, kind: 'progress' };
  const skip = facts.siblingGuards.some((g) => g?.type === 'wasCompleted');
  return { label: skip ? 'skip (not completed)' : 'otherwise', kind: 'progress' };
}

/**
 * Labels a transition of a compiled run machine from its event, guard and actions:
 * `succeeded`, `failed (retry)`, `failed (stop)`, `failed (continue)`, `timed out (retry)`,
 * `timed out (stop)`, `timed out (continue)`, `retry timer`, `interrupted (redispatch)`, `cancel`,
 * `run timeout`, `due` (a wait's delay came due), `was completed`, `skip (not completed)`, `stopped attempt ended` (from `waiting` or `draining`,
 * once an attempt stopped by a timeout or cancel has ended), `outcome: <outcome>`, `otherwise`.
 * Unknown transitions are labelled `EVENT [guard]`.
 */
export function describeTransition(facts: TransitionFacts): TransitionDescription {
  const { event, guard } = facts;
  if (event === null) return eventless(facts);
  const mode = failureMode(facts.actions);
  const outcome = mode ? ` (${mode})` : '';
  switch (event) {
    case 'TASK_SUCCEEDED':
      return { label: 'succeeded', kind: 'progress' };
    case 'TASK_FAILED':
      return guard?.type === 'canRetry' ? { label: 'failed (retry)', kind: 'retry' } : { label: `failed${outcome}`, kind: 'failure' };
    case 'TASK_INTERRUPTED':
      return { label: 'interrupted (redispatch)', kind: 'retry' };
    case 'CANCEL':
      return { label: 'cancel', kind: 'abort' };
    case 'TIMER_FIRED':
      if (guard?.type === 'timeoutCanRetry') return { label: 'timed out (retry)', kind: 'retry' };
      if (guard?.type === 'isTimeout') return { label: `timed out${outcome}`, kind: 'failure' };
      if (guard?.type === 'isRetryTimer') return { label: 'retry timer', kind: 'retry' };
      if (guard?.type === 'isWaitTimer') return { label: 'due', kind: 'progress' };
      if (guard?.type === 'isRunTimeout') return { label: 'run timeout', kind: 'abort' };
      break;
    default:
      break;
  }
  return { label: guard ? `${event} [${guard.type}]` : event, kind: 'progress' };
}
