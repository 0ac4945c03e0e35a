// Runs doc examples with /bin/sh as a reader would paste them, `lockstep` and `npx lockstep` being this checkout's
// built bin (so `npm run build` first).
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, ROOT } from '../support/cli.js';

/** A directory of shims, put first on PATH: `lockstep` and `npx lockstep` run the built bin; other `npx` go to npm. */
export function shimDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-doc-bin-'));
  const lockstep = join(dir, 'lockstep');
  writeFileSync(lockstep, `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  const npx = join(dir, 'npx');
  const realPath = process.env.PATH ?? '';
  writeFileSync(
    npx,
    `#!/bin/sh\nif [ "$1" = lockstep ]; then shift; exec "${process.execPath}" "${BIN}" "$@"; fi\nPATH='${realPath}' exec npx "$@"\n`,
  );
  chmodSync(lockstep, 0o755);
  chmodSync(npx, 0o755);
  return dir;
}

/** A fresh directory holding a copy of the checkout's `machines/`, for commands that write (a store, logs). */
export function copyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-doc-'));
  cpSync(join(ROOT, 'machines'), join(dir, 'machines'), { recursive: true });
  mkdirSync(join(dir, 'tmp'));
  return dir;
}

export interface ShellOptions {
  readonly cwd: string;
  readonly shims: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ShellResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function spawnShell(command: string, options: ShellOptions): ChildProcess {
  return spawn('/bin/sh', ['-c', command], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env, PATH: `${options.shims}${delimiter}${options.env?.PATH ?? process.env.PATH ?? ''}` },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that a long-running example is stopped with everything it started.
    detached: true,
  });
}

/** Runs a command to its end (killed with its group after `timeoutMs`). */
export function sh(command: string, options: ShellOptions & { timeoutMs?: number }): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    const child = spawnShell(command, options);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

/** How a long-running example ended once stopped: `forced` when it had to be killed with SIGKILL. */
export interface Stopped {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly forced: boolean;
}

/** A long-running example (a server, `cmd &`), started and ready. */
export interface Background {
  /** The first match of `ready` in its stdout or stderr. */
  readonly ready: RegExpExecArray;
  output(): string;
  /** SIGTERM to its process group; resolves once it has exited (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<Stopped>;
}

/** Starts a long-running command and waits until its output matches `ready`. */
export function startBackground(command: string, ready: RegExp, options: ShellOptions & { timeoutMs?: number }): Promise<Background> {
  return new Promise((resolve, reject) => {
    const child = spawnShell(command, options);
    let output = '';
    let stopped: Promise<Stopped> | undefined;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on('close', (code, signal) => done({ code, signal })),
    );
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      reject(new Error(`\`${command}\` printed nothing matching ${ready} within ${options.timeoutMs ?? 60_000} ms:\n${output}`));
    }, options.timeoutMs ?? 60_000);
    const background = (match: RegExpExecArray): Background => ({
      ready: match,
      output: () => output,
      stop: (graceMs = 20_000) => {
        stopped ??= (async () => {
          let forced = false;
          killGroup(child, 'SIGTERM');
          const hard = setTimeout(() => {
            forced = true;
            killGroup(child, 'SIGKILL');
          }, graceMs);
          const { code, signal } = await exit;
          clearTimeout(hard);
          killGroup(child, 'SIGKILL'); // whatever it left behind in its group
          return { code, signal, forced };
        })();
        return stopped;
      },
    });
    let settled = false;
    const onData = (d: Buffer) => {
      output += d.toString();
      const match = settled ? null : ready.exec(output);
      if (match) {
        settled = true;
        clearTimeout(timer);
        resolve(background(match));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', reject);
    void exit.then(({ code, signal }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`\`${command}\` exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
}

/**
 * The help text of each `lockstep` subcommand (`topics create` for a nested one), from one process of the built
 * CLI rather than one per command; `undefined` for a subcommand the CLI does not have.
 */
export async function helpTexts(subcommands: readonly string[]): Promise<Map<string, string | undefined>> {
  const main = pathToFileURL(join(ROOT, 'dist/cli/main.js')).href;
  const script = [
    `import { main } from ${JSON.stringify(main)};`,
    'process.stdout.setMaxListeners(0);',
    'const write = process.stdout.write.bind(process.stdout);',
    'const texts = {};',
    'for (const sub of JSON.parse(process.argv[1])) {',
    "  let text = '';",
    '  process.stdout.write = (chunk) => ((text += chunk), true);',
    "  const code = await main(['node', 'lockstep', ...sub.split(' '), '--help']);",
    '  process.stdout.write = write;',
    '  texts[sub] = code === 0 ? text : null;',
    '}',
    'write(JSON.stringify(texts));',
  ].join('\n');
  const r = await new Promise<ShellResult>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(subcommands)], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  if (r.code !== 0) throw new Error(`lockstep --help failed (${r.code}): ${r.stderr}`);
  const texts = JSON.parse(r.stdout) as Record<string, string | null>;
  return new Map(subcommands.map((sub) => [sub, texts[sub] ?? undefined]));
}

/** How a server example is run: with `--port 0` added, since a fixed port would collide with anything else. */
export const withFreePort = (command: string): string => `${command} --port 0`;

/** What `lockstep serve` prints once it listens. */
export const SERVE_READY = /lockstep serve: listening on (http:\/\/\S+)/;
