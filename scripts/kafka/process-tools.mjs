// Process and port helpers of lockstep's development broker: free ports, log tails, and stopping a process by
// pid. Plain ESM JavaScript; broker.mjs re-exports what is public here (types: ./broker.d.mts).

import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createServer } from 'node:net';

const HOST = '127.0.0.1';
export const STOP_TIMEOUT_MS = 15_000;
export const LOG_TAIL_LINES = 40;

// ---------------------------------------------------------------------------------------------
// Ports

/** Asks the OS for a free TCP port on 127.0.0.1 (never 9092/9093). */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolvePromise, reject) => {
      const server = createServer();
      server.unref();
      server.on('error', reject);
      server.listen(0, HOST, () => {
        const address = server.address();
        server.close(() => resolvePromise(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (port && port !== 9092 && port !== 9093) return port;
  }
}

/** True when nothing listens on HOST:port (we can bind it ourselves). */
export function portIsFree(port) {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

/** The last `n` lines of a file (reads at most its last 64 KiB); '' if it is missing. */
export function tailFile(file, n = LOG_TAIL_LINES) {
  let fd;
  try {
    fd = openSync(file, 'r');
    const size = statSync(file).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return tailLines(buf.toString('utf8'), n);
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function tailLines(text, n) {
  // Lines starting with a tab are Kafka's dump of every config value at start-up: never the news.
  const lines = text
    .replace(/\s+$/, '')
    .split('\n')
    .filter((line) => !line.startsWith('\t'));
  return lines.slice(-n).join('\n');
}

/** True while a process with this pid exists (and is not a zombie we could reap). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return /** @type {NodeJS.ErrnoException} */ (err).code === 'EPERM';
  }
  try {
    // A zombie (exited, not yet reaped by its parent) still answers kill(0).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends `signal` to `pid`, waits up to `timeoutMs` for it to exit, then SIGKILLs it.
 * @returns {Promise<boolean>} true when the process is gone
 */
export async function stopPid(pid, { signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS } = {}) {
  if (!isAlive(pid)) return true;
  try {
    process.kill(pid, signal);
  } catch {
    return !isAlive(pid);
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  return !isAlive(pid);
}
