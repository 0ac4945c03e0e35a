// A throw-away redis-server (Debian's /usr/bin/redis-server) on a free port in a temp dir, with AOF persistence
// (appendonly yes, appendfsync everysec: like lockstep SQLite, a crash loses at most about the last second).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REDIS = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });

/** Peak resident set of a process (VmHWM from /proc/<pid>/status), in MiB; undefined when not readable. */
export function peakRssMib(pid) {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** Starts redis-server and resolves once it accepts connections; `stop()` kills it and removes its dir. */
export async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-peers-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  args.push('--appendonly', 'yes', '--appendfsync', 'everysec', '--daemonize', 'no');
  const child = spawn(REDIS, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${REDIS} did not start within 10 s:\n${out}`)), 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${REDIS}: ${e.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${REDIS} exited with ${code}:\n${out}`));
    });
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
  }).catch((e) => {
    stop();
    throw e;
  });
  child.stdout.resume();
  return { host: '127.0.0.1', port, pid: child.pid, stop };
}
