import type { FastifyError, FastifyInstance, onRequestHookHandler } from 'fastify';
import Fastify from 'fastify';
import { ErrorCode, LockstepError } from '../core/errors.js';
import { MAX_INPUT_BYTES } from '../core/input-limits.js';
import { InvalidSignalError } from '../core/run/signal.js';
import type { RunService } from '../ports/run-service.js';
import { checkBearer } from './auth.js';
import { GraphCache } from './graphs.js';
import { logRoutes } from './log-routes.js';
import { type MetricsRouteOptions, metricsRoute } from './metrics-route.js';
import { runRoutes, START_WAIT_MS } from './run-routes.js';
import type { RejectedDefinition } from './sequence-routes.js';
import { sequenceRoutes } from './sequence-routes.js';
import { uiRoutes } from './ui-assets.js';

export interface HttpServerOptions extends MetricsRouteOptions {
  /** The runs of the mode the server runs over: embedded or Kafka (each mode has a run service). */
  readonly runs: RunService;
  /** Bearer token of mutating requests; when unset they are refused with 503. */
  readonly token?: string;
  /** How long a start or rerun request waits for the run to be recorded before answering 202. @default 5000 */
  readonly startWaitMs?: number;
  /**
   * Host names the server answers to (without port); other `Host` headers get 421. Set it when bound to a
   * loopback address, so that a web page on another site cannot reach the API through DNS rebinding.
   * @default any host
   */
  readonly allowedHosts?: readonly string[];
  /**
   * Largest request body accepted, in bytes. @default {@link MAX_INPUT_BYTES} + 64 KiB, so that an input over
   * its limit is answered with the input's own 400, not with a bare "body too large"
   */
  readonly bodyLimit?: number;
  /** Files of the sequences directory that were not loaded, listed by `GET /api/sequences` with their problems. */
  readonly rejected?: readonly RejectedDefinition[];
  /**
   * Lay out the task view of every served sequence once the server is ready, in the background, so that the
   * page's first graph is answered from the cache instead of waiting for Graphviz. @default false
   */
  readonly prerenderGraphs?: boolean;
}

/** HTTP status of each error code the API can answer with. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.invalidRequest]: 400,
  [ErrorCode.invalidUsage]: 400,
  [ErrorCode.invalidMessage]: 400,
  [ErrorCode.invalidDefinition]: 400,
  [ErrorCode.unknownTask]: 400,
  [ErrorCode.unauthorized]: 401,
  [ErrorCode.unknownRun]: 404,
  [ErrorCode.unknownSequence]: 404,
  [ErrorCode.runEnded]: 409,
  [ErrorCode.runActive]: 409,
  [ErrorCode.runLocked]: 409,
  [ErrorCode.runNotResumable]: 409,
  [ErrorCode.invalidSignal]: 400,
  [ErrorCode.notWaiting]: 409,
  [ErrorCode.authNotConfigured]: 503,
  [ErrorCode.transportUnavailable]: 503,
  [ErrorCode.storeMissing]: 503,
  [ErrorCode.storeUnavailable]: 503,
  [ErrorCode.storeReadOnly]: 503,
  [ErrorCode.storeIo]: 503,
  [ErrorCode.storeFull]: 507,
  [ErrorCode.waitTimeout]: 504,
  // A start whose input the broker can never take: the request is too large, whatever the retries.
  [ErrorCode.recordTooLarge]: 413,
  [ErrorCode.recordRejected]: 400,
};

/** The HTTP status for a lockstep error code. */
export const statusOf = (code: ErrorCode): number => STATUS[code] ?? 500;

/** Fastify's own request errors (bad JSON, wrong content type, body too large) in lockstep's words. */
function requestErrorMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `request body is not valid JSON: ${error.message}`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `${error.message}: send the body as JSON with "Content-Type: application/json"`;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body is too large: ${error.message}`;
    default:
      return error.message;
  }
}

/**
 * Builds lockstep's HTTP server: the JSON API under `/api`, live updates as server-sent events, and the
 * page at `/`. Errors answer `{ error: { code, message, problems? } }` with a 4xx status for bad requests.
 */
export function createHttpServer(options: HttpServerOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: options.bodyLimit ?? MAX_INPUT_BYTES + 65_536, forceCloseConnections: true });
  const graphs = new GraphCache();
  // Bodies are JSON only: anything else is 415, not a string handed to the schemas.
  app.removeContentTypeParser('text/plain');
  const auth: onRequestHookHandler = async (request) => checkBearer(request.headers.authorization, options.token);

  app.setErrorHandler((error: FastifyError | LockstepError, _request, reply) => {
    if (error instanceof LockstepError) {
      const status = statusOf(error.code);
      if (status === 401) void reply.header('www-authenticate', 'Bearer realm="lockstep"');
      // A refused signal names every problem with its path, as a bad request body does.
      const problems = error instanceof InvalidSignalError ? { problems: error.problems } : {};
      return reply.status(status).send({ error: { code: error.code, message: error.message, ...problems } });
    }
    const status = error.statusCode ?? 500;
    if (status < 500) return reply.status(status).send({ error: { code: ErrorCode.invalidRequest, message: requestErrorMessage(error) } });
    return reply.status(500).send({ error: { code: 'INTERNAL_ERROR', message: `internal error: ${error.message}` } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: { code: ErrorCode.invalidRequest, message: `no endpoint ${request.method} ${request.url.split('?')[0]}` } }),
  );

  const allowed = options.allowedHosts && new Set(options.allowedHosts.map((h) => h.toLowerCase()));
  if (allowed) {
    app.addHook('onRequest', async (request, reply) => {
      const host = (request.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
      if (allowed.has(host)) return;
      return reply.status(421).send({
        error: {
          code: ErrorCode.invalidRequest,
          message: `requests for host "${host.slice(0, 100)}" are refused: this server answers only to ${[...allowed].join(', ')}`,
        },
      });
    });
  }

  app.get('/api/health', async () => ({
    ok: true,
    mode: options.runs.mode,
    sequences: options.runs.sequences().length,
    auth: Boolean(options.token),
  }));
  sequenceRoutes(app, options.runs, graphs, options.rejected ?? []);
  runRoutes(app, options.runs, graphs, auth, options.startWaitMs ?? START_WAIT_MS);
  logRoutes(app, options.runs);
  metricsRoute(app, options);
  uiRoutes(app);
  if (options.prerenderGraphs) {
    app.addHook('onReady', async () => {
      // A sequence too large for SVG is refused again, with its message, when the page asks for it.
      for (const offered of options.runs.sequences()) {
        try {
          void graphs.svg(offered.program, 'tasks').catch(() => {});
        } catch {
          // too large for SVG: the page shows the limit's message
        }
      }
    });
  }
  return app;
}
