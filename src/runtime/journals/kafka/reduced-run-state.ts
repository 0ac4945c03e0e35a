import type { RunState } from '../../../core/protocol/run-state.js';
import { cut } from '../../record-limits.js';

/**
 * A state record that fits `fits`: the results left out first, then the input, then the whole snapshot (the run's
 * status, final outcome and reason stay). `reduced` says what was left out and why.
 */
export function reducedRunState(state: RunState, reason: string, fits: (state: RunState) => boolean): RunState {
  const context = state.snapshot.context;
  const withResults: RunState = {
    ...state,
    snapshot: { ...state.snapshot, context: { ...context, results: {} } },
    reduced: { reason, dropped: ['snapshot.context.results'] },
  };
  if (fits(withResults)) return withResults;
  const withInput: RunState = {
    ...withResults,
    snapshot: { ...withResults.snapshot, context: { ...withResults.snapshot.context, input: null } },
    reduced: { reason, dropped: ['snapshot.context.results', 'snapshot.context.input'] },
  };
  if (fits(withInput)) return withInput;
  const final = state.final ? { final: { ...state.final, ...(state.final.reason ? { reason: cut(state.final.reason, 1_000) } : {}) } } : {};
  return {
    ...state,
    ...final,
    snapshot: { value: state.snapshot.value, context: { runId: state.runId }, status: state.snapshot.status },
    timers: {},
    completions: [],
    reduced: { reason: cut(reason, 1_000), dropped: ['snapshot', 'timers', 'completions'] },
  };
}
