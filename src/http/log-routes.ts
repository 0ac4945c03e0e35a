import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorCode, LockstepError } from '../core/errors.js';
import { describeValue } from '../core/sequence/problems.js';
import type { AttemptLog } from '../ports/attempt-logs.js';
import type { RunService } from '../ports/run-service.js';
import { parseRequest } from './schemas.js';

/** `GET /api/runs/:runId/logs`: which attempts, all by default. */
const LogsQuery = z.strictObject({
  task: z.string().min(1, { error: 'expected a non-empty task id' }).max(200).optional(),
  attempt: z
    .unknown()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
      if (Number.isInteger(n) && n >= 1) return n;
      ctx.addIssue({ code: 'custom', message: `expected an attempt number from 1 up, got ${describeValue(value)}` });
      return z.NEVER;
    })
    .optional(),
});

/** The answer of `GET /api/runs/:runId/logs`: the run's attempts in the order they started, each with its lines. */
export interface RunLogsView {
  readonly runId: string;
  readonly attempts: readonly AttemptLog[];
}

/** The log endpoint of the page: every attempt's stdout, stderr and `ctx.log` lines, as the run's store or topic keeps them. */
export function logRoutes(app: FastifyInstance, runs: RunService): void {
  app.get<{ Params: { runId: string } }>('/api/runs/:runId/logs', async (request, reply): Promise<RunLogsView | undefined> => {
    const parsed = parseRequest(LogsQuery, request.query);
    if (!parsed.success) {
      const message = `invalid query: ${parsed.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`;
      await reply.status(400).send({ error: { code: ErrorCode.invalidRequest, message, problems: parsed.problems } });
      return undefined;
    }
    const { task, attempt } = parsed.data;
    const { runId } = request.params;
    const attempts = await runs.runLogs(runId, { ...(task ? { task } : {}), ...(attempt ? { attempt } : {}) });
    if (!attempts) throw new LockstepError(ErrorCode.unknownRun, `unknown run "${runId}"`);
    return { runId, attempts };
  });
}
