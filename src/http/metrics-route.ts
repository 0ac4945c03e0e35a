import type { FastifyInstance } from 'fastify';
import type { MetricsExposition } from '../ports/metrics.js';

/** The part of the server's options the metrics route reads. */
export interface MetricsRouteOptions {
  /** The metrics `GET /metrics` serves (Prometheus text format); without them the route is not there. */
  readonly metrics?: MetricsExposition;
}

/** `GET /metrics`: the process's metrics for Prometheus. A read like the other GETs: no token needed. */
export function metricsRoute(app: FastifyInstance, options: MetricsRouteOptions): void {
  const { metrics } = options;
  if (!metrics) return;
  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()));
}
