import { createServer } from 'node:http';
import { ErrorCode, LockstepError } from '../core/errors.js';
import type { MetricsExposition } from '../ports/metrics.js';

/** A small HTTP listener that serves `GET /metrics`, for processes without the HTTP API (`lockstep orchestrator`). */
export interface MetricsListener {
  /** `http://host:port/metrics`, with the port it bound (`--metrics-port 0` picks a free one). */
  readonly url: string;
  close(): Promise<void>;
}

/** Parses `--metrics-port`: an integer from 0 (a free port) to 65535. */
export function metricsPort(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new LockstepError(ErrorCode.invalidUsage, `--metrics-port: expected an integer from 0 to 65535, got "${value}"`);
  return port;
}

/** Listens on `host:port` and answers `GET /metrics` with the exposition; any other request gets 404. */
export async function listenForMetrics(metrics: MetricsExposition, host: string, port: number): Promise<MetricsListener> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`no endpoint ${request.method} ${path}: try GET /metrics\n`);
      return;
    }
    metrics.text().then(
      (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(request.method === 'HEAD' ? undefined : text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(error as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(new LockstepError(ErrorCode.invalidUsage, `--metrics-port: cannot listen on ${host}:${port}: ${error.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
