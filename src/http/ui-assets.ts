import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/** The page's files, served from `ui/` beside this module (the build copies them to `dist/http/ui/`). */
const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'actions.js': 'text/javascript; charset=utf-8',
  'attempts.js': 'text/javascript; charset=utf-8',
  'run-data.js': 'text/javascript; charset=utf-8',
  'runs.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'graph.js': 'text/javascript; charset=utf-8',
  'timeline.js': 'text/javascript; charset=utf-8',
  'wait.js': 'text/javascript; charset=utf-8',
  'json-schema.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'runs.css': 'text/css; charset=utf-8',
  'run.css': 'text/css; charset=utf-8',
  'graph.css': 'text/css; charset=utf-8',
} as const;

/** Directory of the page's files. */
export const UI_DIR = new URL('./ui/', import.meta.url);

/**
 * Serves the page: `/` and `/ui/<file>`. The files are read once at startup; the page loads nothing from
 * any other origin (a Content-Security-Policy says so to the browser).
 */
export function uiRoutes(app: FastifyInstance): void {
  const files = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { type, body: readFileSync(new URL(name, UI_DIR), 'utf8') }]));
  const csp = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'";
  const send = (name: string) => {
    const file = files.get(name)!;
    return { type: file.type, body: file.body };
  };
  app.get('/', async (_request, reply) => {
    const f = send('index.html');
    return reply.type(f.type).header('content-security-policy', csp).header('cache-control', 'no-cache').send(f.body);
  });
  for (const name of files.keys()) {
    if (name === 'index.html') continue;
    app.get(`/ui/${name}`, async (_request, reply) => {
      const f = send(name);
      return reply.type(f.type).header('cache-control', 'no-cache').send(f.body);
    });
  }
}
