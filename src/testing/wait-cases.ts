import type { ModelPath } from '../core/paths/path-graph.js';
import type { Sequence } from '../core/sequence/types.js';

/** What `lockstep test` made of one wait task: the ways it ended on the paths run, and the signals that changed nothing. */
export interface WaitCases {
  readonly taskId: string;
  readonly for: 'signal' | 'time';
  /** How the wait ended, in its words (`signal`, `rejected`, `timed out`, `due`, `cancelled while waiting`), and on how many paths. */
  readonly ended: Readonly<Record<string, number>>;
  /** Signals sent that the run had to ignore: for a wait already ended (`duplicate`), too late, or before the run reached it. */
  readonly ignored: { readonly duplicate: number; readonly late: number; readonly early: number };
}

/** The wait cases of a sequence's paths, from the steps of each path and the signals injected along it. */
export function waitCases(
  sequence: Sequence,
  runs: ReadonlyArray<{ readonly path: ModelPath; readonly injected: readonly string[] }>,
): WaitCases[] {
  const waits = [...sequence.tasks, ...sequence.finally].flatMap((t) =>
    t.action.kind === 'wait' ? [{ taskId: t.id, for: t.action.wait.for === 'signal' ? ('signal' as const) : ('time' as const) }] : [],
  );
  return waits.map(({ taskId, for: waitsFor }) => {
    const ended: Record<string, number> = {};
    const ignored = { duplicate: 0, late: 0, early: 0 };
    for (const run of runs) {
      const cases = new Set<string>();
      for (const step of run.path.steps) {
        const own = step.taskId === taskId && step.wait !== undefined;
        if (!own && step.waiting !== taskId) continue;
        const words = step.label.slice(step.label.indexOf(': ') + 2);
        if (words !== 'asks again') cases.add(words);
      }
      for (const c of cases) ended[c] = (ended[c] ?? 0) + 1;
      for (const what of run.injected) {
        if (what.startsWith(`a duplicate signal for ${taskId} `) || what === `a duplicate signal for ${taskId}`) ignored.duplicate++;
        else if (what.startsWith(`a late signal for ${taskId} `)) ignored.late++;
        else if (what.startsWith(`a signal for ${taskId} before`)) ignored.early++;
      }
    }
    return { taskId, for: waitsFor, ended, ignored };
  });
}

/** `approve: signal (26 paths), rejected (2), ...; ignored: 26 duplicate, 6 late, 40 early signals`. */
export function formatWaitCases(cases: WaitCases): string {
  const ended = Object.entries(cases.ended)
    .map(([words, n], i) => `${words} (${n}${i === 0 ? (n === 1 ? ' path' : ' paths') : ''})`)
    .join(', ');
  const { duplicate, late, early } = cases.ignored;
  const ignored = cases.for === 'signal' ? `; signals ignored as they must be: ${duplicate} duplicate, ${late} late, ${early} early` : '';
  return `${cases.taskId}: ${ended || 'not reached'}${ignored}`;
}
