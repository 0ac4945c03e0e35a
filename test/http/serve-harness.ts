import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { MemoryRunStore } from '../../src/adapters/memory/memory-run-store.js';
import { loadServedFiles } from '../../src/cli/commands/serve.js';
import type { CliContext } from '../../src/cli/context.js';
import { createHttpServer } from '../../src/http/server.js';
import { createEmbeddedRunService } from '../../src/modes/embedded/index.js';

/**
 * Sequences for the HTTP tests. Tasks of `gated` wait for a file named after them in the gates directory,
 * so a test decides when each task ends.
 */
export function writeMachines(dir: string, gates: string): void {
  const wait = (id: string, out: string) => `while [ ! -f "${gates}/${id}" ]; do sleep 0.02; done; echo '${out}'`;
  writeFileSync(
    join(dir, 'gated.yaml'),
    [
      'name: gated',
      'version: 1',
      'description: Three tasks that each wait for a gate file.',
      'tasks:',
      '  - id: prepare',
      `    run: ${JSON.stringify(wait('prepare', '{"prepared":true}'))}`,
      '    compensate:',
      '      run: echo undo-prepare',
      '  - id: build',
      `    run: ${JSON.stringify(wait('build', '{"built":1}'))}`,
      '  - id: publish',
      `    run: ${JSON.stringify(`${wait('publish', '{}')}; test ! -f "${gates}/fail-publish"`)}`,
      'finally:',
      '  - id: cleanup',
      '    run: echo cleaned',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'remote.yaml'),
    ['name: remote', 'version: 1', 'tasks:', '  - id: bill', '    queue: billing', '  - id: notify', '    run: echo notified', ''].join(
      '\n',
    ),
  );
  writeFileSync(join(dir, 'broken.yaml'), 'name: broken\ntasks: []\n');
}

export interface ServeHarness {
  readonly app: FastifyInstance;
  readonly store: MemoryRunStore;
  readonly dir: string;
  readonly gates: string;
  /** Lets a gated task finish. */
  open(gate: string): void;
  readonly errors: string[];
  close(): Promise<void>;
}

export const TOKEN = 'test-token-0123456789';

/** A real embedded run service and HTTP server over temporary sequences, not yet listening. */
export async function serveHarness(
  options: { token?: string | null; allowedHosts?: string[]; files?: Record<string, string | Buffer>; startWaitMs?: number } = {},
): Promise<ServeHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-http-'));
  const gates = join(dir, 'gates');
  mkdirSync(gates);
  const machines = join(dir, 'machines');
  mkdirSync(machines);
  writeMachines(machines, gates);
  for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(machines, name), text);
  const errors: string[] = [];
  const cli: CliContext = { out: () => {}, err: (l) => errors.push(l), exitCode: 0, env: {}, cwd: dir, isTTY: false };
  const store = new MemoryRunStore();
  const { sequences, rejected } = loadServedFiles(cli, machines);
  const runs = await createEmbeddedRunService({ store, sequences, cwd: dir });
  const token = options.token === null ? undefined : (options.token ?? TOKEN);
  const app = createHttpServer({
    runs,
    rejected,
    ...(options.startWaitMs ? { startWaitMs: options.startWaitMs } : {}),
    ...(token ? { token } : {}),
    ...(options.allowedHosts ? { allowedHosts: options.allowedHosts } : {}),
  });
  await app.ready();
  return {
    app,
    store,
    dir,
    gates,
    errors,
    open: (gate) => writeFileSync(join(gates, gate), ''),
    async close() {
      await app.close();
      await runs.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value other than undefined. */
export async function until<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
