import type { FastifyReply } from 'fastify';

/** An open server-sent-events response. */
export interface EventStream {
  /** Sends one event; `data` is sent as one line of JSON. */
  send(event: string, data: unknown): void;
  /** Registers cleanup for when the client goes away or the server closes the stream. */
  onClose(listener: () => void): void;
  close(): void;
}

/** How often a comment line keeps idle connections (and proxies) open. */
export const HEARTBEAT_MS = 15_000;

/**
 * Turns a reply into a server-sent-events stream (`text/event-stream`). Fastify hands the socket over
 * (`reply.hijack()`); the stream ends when the client disconnects or {@link EventStream.close} is called.
 */
export function openEventStream(reply: FastifyReply, options: { heartbeatMs?: number } = {}): EventStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // Tells EventSource how long to wait before reconnecting, and flushes the headers.
  res.write('retry: 1000\n\n');
  const closers: Array<() => void> = [];
  let closed = false;
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), options.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();
  const finish = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const c of closers) c();
    if (!res.writableEnded) res.end();
  };
  res.on('close', finish);
  return {
    send(event, data) {
      if (closed) return;
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    onClose: (listener) => void closers.push(listener),
    close: finish,
  };
}
