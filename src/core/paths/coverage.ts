import type { ModelPath, PathGraph } from './path-graph.js';

/** Covered out of total. */
export interface Ratio {
  readonly covered: number;
  readonly total: number;
}

/** How much of a sequence's machine a set of paths exercises. */
export interface Coverage {
  /** State nodes entered, out of those some path can enter. */
  readonly states: Ratio;
  /** Definition transitions taken, out of those some path can take. */
  readonly transitions: Ratio;
  /** Reachable transitions no path took (labels); empty at full coverage. */
  readonly uncovered: readonly string[];
  /**
   * Transitions of the definition no outcome sequence can take (labels), left out of the totals: retry branches
   * of tasks with one attempt, run-timeout branches without a run timeout, and `TASK_INTERRUPTED`, which only
   * a restarted orchestrator sends and the path model does not produce.
   */
  readonly unreachable: readonly string[];
}

/** Coverage of `paths` over a graph's reachable states and transitions. */
export function coverageOf(graph: PathGraph, paths: readonly ModelPath[]): Coverage {
  const takenT = new Set<string>();
  const takenS = new Set<string>();
  for (const p of paths) {
    for (const t of p.transitions) takenT.add(t);
    for (const s of p.states) takenS.add(s);
  }
  const reachable = new Set(graph.reachableTransitions);
  const labels = new Map(graph.model.transitions.map((t) => [t.id, t.label]));
  return {
    states: { covered: graph.reachableStates.filter((s) => takenS.has(s)).length, total: graph.reachableStates.length },
    transitions: { covered: graph.reachableTransitions.filter((t) => takenT.has(t)).length, total: reachable.size },
    uncovered: graph.reachableTransitions.filter((t) => !takenT.has(t)).map((t) => labels.get(t) ?? t),
    unreachable: graph.model.transitions.filter((t) => !reachable.has(t.id)).map((t) => t.label),
  };
}

/** `12/12 (100%)`. */
export function formatRatio(r: Ratio): string {
  const pct = r.total === 0 ? 100 : Math.floor((r.covered / r.total) * 1000) / 10;
  return `${r.covered}/${r.total} (${pct}%)`;
}
