import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, onRequestHookHandler } from 'fastify';
import { ErrorCode, LockstepError } from '../core/errors.js';
import { defaultRerunFrom, planRerun } from '../core/run/rerun-plan.js';
import type { StartRequest } from '../core/run/start-request.js';
import type { Problem } from '../core/sequence/problems.js';
import { acceptTraceparent } from '../core/trace/traceparent.js';
import type { EntryUpdate, RunDetail, RunService } from '../ports/run-service.js';
import type { GraphCache } from './graphs.js';
import type { RunView } from './run-view.js';
import { publicEntry, recordSummary, runView } from './run-view.js';
import type { Parsed } from './schemas.js';
import {
  CancelBody,
  encodeCursor,
  parseIngest,
  parseRequest,
  RerunBody,
  RerunPlanQuery,
  ResumeBody,
  RunListQuery,
  SignalBody,
  StartRunBody,
} from './schemas.js';
import { findSequence, sendSvg } from './sequence-routes.js';
import { openEventStream } from './sse.js';
import { listShownRuns, waitingOf } from './waiting.js';

/** How long a start request waits for the run to be recorded before answering 202 instead of 201. */
export const START_WAIT_MS = 5_000;

/** Sends 400 with every problem of a request part, or returns the parsed data. */
function valid<T>(reply: FastifyReply, parsed: Parsed<T>, where: string): T | undefined {
  if (parsed.success) return parsed.data;
  const message = `invalid ${where}: ${parsed.problems.map((p: Problem) => `${p.path}: ${p.message}`).join('; ')}`;
  void reply.status(400).send({ error: { code: ErrorCode.invalidRequest, message, problems: parsed.problems } });
  return undefined;
}

/** The W3C `traceparent` header of a start, checked (a bad one is a 400 naming the header). */
function traceparentHeader(header: string | string[] | undefined): string | undefined {
  if (Array.isArray(header)) throw new LockstepError(ErrorCode.invalidRequest, 'header traceparent: expected one, got several');
  return header === undefined ? undefined : acceptTraceparent(header, 'header traceparent');
}

async function findRun(runs: RunService, runId: string): Promise<RunDetail> {
  const run = await runs.getRun(runId);
  if (!run) throw new LockstepError(ErrorCode.unknownRun, `unknown run "${runId}"`);
  return run;
}

const runLinks = (runId: string) => {
  const self = `/api/runs/${encodeURIComponent(runId)}`;
  return {
    self,
    events: `${self}/events`,
    graphSvg: `${self}/graph.svg`,
    definition: `${self}/definition`,
    cancel: `${self}/cancel`,
    resume: `${self}/resume`,
    rerun: `${self}/rerun`,
  };
};

/** The live-update payload of the event streams. */
export const updatePayload = (u: EntryUpdate) => ({
  runId: u.entry.runId,
  seq: u.seq,
  entry: publicEntry(u.entry),
  ...(u.state ? { state: u.state } : {}),
});

/** Starts a run and waits (briefly) until it is recorded, so a client can fetch it right away. */
async function startRecorded(runs: RunService, request: StartRequest, waitMs: number): Promise<{ runId: string; recorded: boolean }> {
  const runId = request.runId ?? randomUUID();
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe = () => {};
  const recorded = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), waitMs);
    unsubscribe = runs.subscribe((u) => {
      if (u.entry.runId === runId && u.entry.type === 'run.started') resolve(true);
    });
  });
  try {
    await runs.startRun({ ...request, runId });
    // The entry may have been recorded before the subscription saw it: the store has the last word.
    return { runId, recorded: (await recorded) || (await runs.getRun(runId)) !== undefined };
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
}

/** A run's links; a run waiting for a signal adds the endpoint that signals it. */
type ViewLinks = ReturnType<typeof runLinks> & { readonly signal?: string };

async function viewOf(runs: RunService, runId: string): Promise<RunView & { links: ViewLinks }> {
  const { record, history, position } = await findRun(runs, runId);
  const view = runView(record, runs.statusOf(record), history, runs.programOf(record), position);
  const links: ViewLinks = runLinks(runId);
  const signal = view.waiting?.for === 'signal' ? `${links.self}/tasks/${encodeURIComponent(view.waiting.task)}/signal` : undefined;
  return { ...view, links: signal ? { ...links, signal } : links };
}

/** A running run's wait, read from its history's facts. */
const waitOfRun = (runs: RunService) => async (record: { runId: string }) => (await runs.getRun(record.runId))?.position?.facts.waiting;

/** The run endpoints, the live event streams and the ingest endpoint. `auth` guards every mutating route. */
export function runRoutes(
  app: FastifyInstance,
  runs: RunService,
  graphs: GraphCache,
  auth: onRequestHookHandler,
  startWaitMs: number,
): void {
  app.get('/api/runs', async (request, reply) => {
    const query = valid(reply, parseRequest(RunListQuery, request.query), 'query');
    if (!query) return reply;
    const { cursor, limit = 50, ...filter } = query;
    // One run more than asked tells whether a next page exists.
    const listed = await listShownRuns((q) => runs.listRuns(q), waitOfRun(runs), {
      ...filter,
      ...(cursor ? { after: cursor } : {}),
      limit: limit + 1,
    });
    const page = listed.slice(0, limit);
    const last = page.at(-1)?.record;
    return {
      runs: page.map((r) => ({
        ...recordSummary(r.record, r.status, r.waiting && waitingOf(r.waiting)),
        links: runLinks(r.record.runId),
      })),
      ...(listed.length > limit && last ? { next: encodeCursor({ createdAt: last.createdAt, runId: last.runId }) } : {}),
    };
  });

  app.post('/api/runs', { onRequest: auth }, async (request, reply) => {
    const body = valid(reply, parseRequest(StartRunBody, request.body ?? {}), 'request body');
    if (!body) return reply;
    const served = findSequence(runs, body.sequence);
    const traceparent = traceparentHeader(request.headers.traceparent);
    const { runId, recorded } = await startRecorded(
      runs,
      {
        sequence: served.program.sequence.name,
        ...(body.version ? { version: body.version } : {}),
        input: body.input ?? null,
        ...(traceparent ? { traceparent } : {}),
      },
      startWaitMs,
    );
    return reply.status(recorded ? 201 : 202).send({ runId, recorded, links: runLinks(runId) });
  });

  app.get<{ Params: { runId: string } }>('/api/runs/:runId', async (request) => viewOf(runs, request.params.runId));

  app.get<{ Params: { runId: string } }>('/api/runs/:runId/definition', async (request) => {
    const { record } = await findRun(runs, request.params.runId);
    return {
      runId: record.runId,
      sequence: record.sequence,
      version: record.version,
      definition: record.definition,
      definitionHash: record.definitionHash,
      ...(record.source ? { source: record.source } : {}),
    };
  });

  app.get<{ Params: { runId: string } }>('/api/runs/:runId/graph.svg', async (request, reply) => {
    const { record } = await findRun(runs, request.params.runId);
    const program = runs.programOf(record);
    if (!program)
      throw new LockstepError(
        ErrorCode.unknownSequence,
        `the definition of run "${record.runId}" (${record.sequence} v${record.version}) cannot be compiled here`,
      );
    const svg = await sendSvg(graphs, program, request.query);
    return reply.type(svg.type).send(svg.body);
  });

  app.post<{ Params: { runId: string } }>('/api/runs/:runId/cancel', { onRequest: auth }, async (request, reply) => {
    const body = valid(reply, parseRequest(CancelBody, request.body ?? {}), 'request body');
    if (!body) return reply;
    const { record } = await findRun(runs, request.params.runId);
    if (record.status !== 'running')
      throw new LockstepError(
        ErrorCode.runEnded,
        `run "${record.runId}" already ended (${record.status}); only running runs can be cancelled`,
      );
    await runs.cancelRun(record.runId, body.reason ?? 'cancelled over HTTP');
    return reply.status(202).send({ runId: record.runId, cancelling: true, links: runLinks(record.runId) });
  });

  app.post<{ Params: { runId: string } }>('/api/runs/:runId/resume', { onRequest: auth }, async (request, reply) => {
    const body = valid(reply, parseRequest(ResumeBody, request.body ?? {}), 'request body');
    if (!body) return reply;
    const { record } = await findRun(runs, request.params.runId);
    const status = runs.statusOf(record);
    if (status === 'running' || status === 'waiting') {
      throw new LockstepError(
        ErrorCode.runLocked,
        `run "${record.runId}" is not interrupted: a live process drives it; nothing was changed`,
      );
    }
    if (status !== 'interrupted') {
      throw new LockstepError(
        ErrorCode.runNotResumable,
        `run "${record.runId}" already ended (${status}); nothing to resume (rerun it instead)`,
      );
    }
    await runs.resumeRun(record.runId);
    return reply.status(202).send({ runId: record.runId, resuming: true, links: runLinks(record.runId) });
  });

  const plan = async (runId: string, from: string | undefined) => {
    const { record, history } = await findRun(runs, runId);
    const program = runs.programOf(record);
    if (!program)
      throw new LockstepError(
        ErrorCode.unknownSequence,
        `the definition of run "${runId}" (${record.sequence} v${record.version}) cannot be compiled here, so it cannot be rerun`,
      );
    return { record, ...planRerun(program.sequence, runId, history, from ?? defaultRerunFrom(program.sequence, history)) };
  };

  app.get<{ Params: { runId: string } }>('/api/runs/:runId/rerun-plan', async (request, reply) => {
    const query = valid(reply, parseRequest(RerunPlanQuery, request.query), 'query');
    if (!query) return reply;
    return (await plan(request.params.runId, query.from)).plan;
  });

  app.post<{ Params: { runId: string } }>('/api/runs/:runId/rerun', { onRequest: auth }, async (request, reply) => {
    const body = valid(reply, parseRequest(RerunBody, request.body ?? {}), 'request body');
    if (!body) return reply;
    const planned = await plan(request.params.runId, body.from);
    const { record } = planned;
    if (record.status === 'running') {
      const how = runs.statusOf(record) === 'interrupted' ? 'it is interrupted: resume it' : 'cancel it or wait for it to end';
      throw new LockstepError(ErrorCode.runActive, `run "${record.runId}" has not ended (${how} before rerunning it)`);
    }
    const { runId, recorded } = await startRecorded(
      runs,
      {
        sequence: record.sequence,
        version: record.version,
        input: body.input === undefined ? record.input : body.input,
        rerunOf: record.runId,
        reuse: planned.reuse,
      },
      startWaitMs,
    );
    return reply.status(recorded ? 201 : 202).send({ runId, recorded, rerunOf: record.runId, plan: planned.plan, links: runLinks(runId) });
  });

  app.post<{ Params: { runId: string; task: string } }>(
    '/api/runs/:runId/tasks/:task/signal',
    { onRequest: auth },
    async (request, reply) => {
      const body = valid(reply, parseRequest(SignalBody, request.body ?? {}), 'request body');
      if (!body) return reply;
      if (!runs.signalRun)
        throw new LockstepError(ErrorCode.invalidUsage, `this ${runs.mode} server cannot record signals; use \`lockstep signal\``);
      const { runId, task: taskId } = request.params;
      // The run service refuses an unknown run, a signal with problems, an ended run or a wait not reached, recording
      // nothing.
      const outcome = await runs.signalRun(runId, {
        taskId,
        ...(body.data === undefined ? {} : { data: body.data }),
        ...(body.reject === undefined ? {} : { reject: body.reject }),
      });
      return reply.status(200).send({ runId, taskId, ...outcome, links: runLinks(runId) });
    },
  );

  app.post('/api/ingest', { onRequest: auth }, async (request, reply) => {
    const envelope = valid(reply, parseIngest(request.body), 'envelope');
    if (!envelope) return reply;
    const { record } = await findRun(runs, envelope.runId);
    if (record.status !== 'running') {
      throw new LockstepError(
        ErrorCode.runEnded,
        `run "${record.runId}" already ended (${record.status}); the ${envelope.type} report of task "${envelope.taskId}" would be ignored`,
      );
    }
    await runs.reportTask(envelope);
    return reply
      .status(202)
      .send({ accepted: true, id: envelope.id, runId: envelope.runId, taskId: envelope.taskId, attempt: envelope.attempt });
  });

  app.get('/api/events', async (_request, reply) => {
    const stream = openEventStream(reply);
    stream.onClose(runs.subscribe((u) => stream.send('entry', updatePayload(u))));
  });

  app.get<{ Params: { runId: string } }>('/api/runs/:runId/events', async (request, reply) => {
    const runId = request.params.runId;
    const buffered: EntryUpdate[] = [];
    let send: ((u: EntryUpdate) => void) | undefined;
    const unsubscribe = runs.subscribe((u) => {
      if (u.entry.runId !== runId) return;
      if (send) send(u);
      else buffered.push(u);
    });
    let view: RunView;
    try {
      view = await viewOf(runs, runId);
    } catch (error) {
      unsubscribe();
      throw error;
    }
    const stream = openEventStream(reply);
    stream.onClose(unsubscribe);
    stream.send('snapshot', view);
    // Entries recorded before the snapshot are in its history already.
    for (const u of buffered) if (u.seq < 0 || u.seq >= view.history.length) stream.send('entry', updatePayload(u));
    send = (u) => stream.send('entry', updatePayload(u));
  });
}
