import { ErrorCode, LockstepError } from '../errors.js';

/**
 * The two ways lockstep draws a sequence: `tasks`, one node per task (the default), and `machine`, the states
 * and transitions of the XState machine it compiles to.
 */
export const GraphView = { tasks: 'tasks', machine: 'machine' } as const;
export type GraphView = (typeof GraphView)[keyof typeof GraphView];

/** The view a graph is drawn in when none is asked for. */
export const DEFAULT_GRAPH_VIEW: GraphView = GraphView.tasks;

/**
 * Reads a view name (`tasks` or `machine`); `undefined` is the default view.
 *
 * @throws LockstepError (`INVALID_REQUEST`) naming `where` the value came from, the value and the views there are.
 */
export function parseGraphView(value: unknown, where = 'view'): GraphView {
  if (value === undefined) return DEFAULT_GRAPH_VIEW;
  if (value === GraphView.tasks || value === GraphView.machine) return value;
  throw new LockstepError(ErrorCode.invalidRequest, `invalid ${where}: expected "tasks" or "machine", got ${JSON.stringify(value)}`);
}
