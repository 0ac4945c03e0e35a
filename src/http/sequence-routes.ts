import type { FastifyInstance } from 'fastify';
import { ErrorCode, LockstepError } from '../core/errors.js';
import { parseGraphView } from '../core/graph/views.js';
import type { Problem } from '../core/sequence/problems.js';
import type { TaskSpec } from '../core/sequence/types.js';
import type { Program } from '../core/step.js';
import type { OfferedSequence, RunService } from '../ports/run-service.js';
import type { GraphCache } from './graphs.js';

/** A task as the API describes it. */
export interface TaskSummary {
  readonly id: string;
  readonly kind: 'shell' | 'handler' | 'queue' | 'wait';
  readonly queue?: string;
  readonly description?: string;
  readonly maxAttempts: number;
  readonly timeoutMs?: number;
  readonly onFailure: 'stop' | 'continue';
  /** Id of the task's compensation, when it has one. */
  readonly compensate?: string;
}

/** A file of the sequences directory that is not served, with every problem found in it. */
export interface RejectedDefinition {
  readonly source: string;
  readonly problems: readonly Problem[];
}

/** A served sequence as the API lists it. */
export interface SequenceSummary {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly source?: string;
  readonly hash: string;
  readonly tasks: readonly TaskSummary[];
  readonly finally: readonly TaskSummary[];
  readonly links: { readonly self: string; readonly graphSvg: string; readonly graphJson: string; readonly stately: string };
}

function taskSummary(spec: TaskSpec): TaskSummary {
  return {
    id: spec.id,
    kind: spec.action.kind,
    ...(spec.action.kind === 'queue' ? { queue: spec.action.queue } : {}),
    ...(spec.description ? { description: spec.description } : {}),
    maxAttempts: spec.retry.maxAttempts,
    ...(spec.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}),
    onFailure: spec.onFailure,
    ...(spec.compensate ? { compensate: spec.compensate.id } : {}),
  };
}

/** Describes a sequence: its tasks and the links to its graphs. */
export function sequenceSummary(s: OfferedSequence): SequenceSummary {
  const { sequence } = s.program;
  const self = `/api/sequences/${encodeURIComponent(sequence.name)}`;
  return {
    name: sequence.name,
    version: sequence.version,
    ...(sequence.description ? { description: sequence.description } : {}),
    ...(s.source ? { source: s.source } : {}),
    hash: s.hash,
    tasks: sequence.tasks.map(taskSummary),
    finally: sequence.finally.map(taskSummary),
    links: { self, graphSvg: `${self}/graph.svg`, graphJson: `${self}/graph.json`, stately: `${self}/stately.json` },
  };
}

/** Finds a served sequence by name, or throws `UNKNOWN_SEQUENCE` (404). */
export function findSequence(runs: RunService, name: string): OfferedSequence {
  const found = runs.sequences().find((s) => s.program.sequence.name === name);
  if (!found) {
    const known =
      runs
        .sequences()
        .map((s) => `"${s.program.sequence.name}"`)
        .join(', ') || 'none';
    throw new LockstepError(ErrorCode.unknownSequence, `unknown sequence "${name}" (served: ${known})`);
  }
  return found;
}

/**
 * Sends a program's graph as SVG, in the view its request's `?view=tasks|machine` asks for (default `tasks`).
 *
 * @throws LockstepError (`INVALID_REQUEST`, 400) for any other view.
 */
export async function sendSvg(graphs: GraphCache, program: Program, query: unknown): Promise<{ type: string; body: string }> {
  const view = parseGraphView((query as { view?: unknown } | undefined)?.view, 'query: view');
  return { type: 'image/svg+xml; charset=utf-8', body: await graphs.svg(program, view) };
}

/**
 * `GET /api/sequences[/:name[/graph.svg|graph.json|stately.json]]` (`graph.svg` and `graph.json` take `?view=tasks|machine`, default `tasks`). The list also names the files that were not
 * loaded (`invalid`), with their problems, so a bad file is visible without the server's log.
 */
export function sequenceRoutes(
  app: FastifyInstance,
  runs: RunService,
  graphs: GraphCache,
  rejected: readonly RejectedDefinition[] = [],
): void {
  app.get('/api/sequences', async () => ({ sequences: runs.sequences().map(sequenceSummary), invalid: rejected }));

  app.get<{ Params: { name: string } }>('/api/sequences/:name', async (request) => {
    const s = findSequence(runs, request.params.name);
    return { ...sequenceSummary(s), definition: s.definition };
  });

  app.get<{ Params: { name: string } }>('/api/sequences/:name/graph.svg', async (request, reply) => {
    const svg = await sendSvg(graphs, findSequence(runs, request.params.name).program, request.query);
    return reply.type(svg.type).send(svg.body);
  });

  app.get<{ Params: { name: string } }>('/api/sequences/:name/graph.json', async (request) => {
    const program = findSequence(runs, request.params.name).program;
    const view = parseGraphView((request.query as { view?: unknown } | undefined)?.view, 'query: view');
    return view === 'tasks' ? graphs.taskGraph(program) : graphs.graph(program);
  });

  app.get<{ Params: { name: string } }>('/api/sequences/:name/stately.json', async (request) =>
    graphs.stately(findSequence(runs, request.params.name).program),
  );
}
