#!/usr/bin/env node
// npm run kafka:down [-- --wipe]
// Stops the broker started by `npm run kafka:up` (SIGTERM, then SIGKILL after 15 s).
// Its data in .lockstep/kafka/ is kept for the next `kafka:up`; --wipe removes it.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, stopPid } from './broker.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataDir = join(root, '.lockstep', 'kafka');
const pidFile = join(dataDir, 'broker.pid');
const stateFile = join(dataDir, 'broker.json');
const log = (msg) => process.stderr.write(`[kafka:down] ${msg}\n`);

async function main() {
  const wipe = process.argv.includes('--wipe');
  let pid;
  if (existsSync(pidFile)) {
    const n = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(n) && n > 0 && isAlive(n)) pid = n;
  }
  if (pid) {
    let ours = true;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      ours = cmdline.includes('kafka.Kafka') && cmdline.includes(dataDir);
    } catch {
      /* no /proc: trust the pid file */
    }
    if (ours) {
      log(`stopping the Kafka broker (pid ${pid}) ...`);
      if (!(await stopPid(pid))) throw new Error(`pid ${pid} is still running after SIGKILL`);
      log('stopped');
    } else {
      log(`pid ${pid} in ${pidFile} is no longer the Kafka broker; nothing to stop`);
    }
  } else {
    log('no Kafka broker from `npm run kafka:up` is running');
  }
  rmSync(pidFile, { force: true });
  rmSync(stateFile, { force: true });
  if (wipe) {
    rmSync(dataDir, { recursive: true, force: true });
    log(`removed ${dataDir}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`[kafka:down] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
