#!/usr/bin/env node
// npm run kafka:up [-- --fresh]
// Starts a real Kafka 3.9.1 broker (scripts/kafka/broker.mjs) in the background for local
// development and tests: 127.0.0.1:19092 (LOCKSTEP_KAFKA_PORT), controller on the next port
// (LOCKSTEP_KAFKA_CONTROLLER_PORT), data, logs and pid in .lockstep/kafka/. Its data is kept
// between up/down; --fresh wipes it first. Prints KAFKA_BROKERS=... on stdout.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, startBroker, waitForKafka } from './broker.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataDir = join(root, '.lockstep', 'kafka');
const pidFile = join(dataDir, 'broker.pid');
const stateFile = join(dataDir, 'broker.json');
const log = (msg) => process.stderr.write(`[kafka:up] ${msg}\n`);

function parsePort(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name}=${raw} is not a TCP port`);
  return port;
}

/** The pid in .lockstep/kafka/broker.pid when that process is still our broker. */
export function runningBrokerPid() {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes('kafka.Kafka') || !cmdline.includes(dataDir)) return undefined; // pid reused
  } catch {
    /* no /proc: trust the pid file */
  }
  return pid;
}

async function main() {
  const fresh = process.argv.includes('--fresh');
  const port = parsePort('LOCKSTEP_KAFKA_PORT', 19092);
  const controllerPort = parsePort('LOCKSTEP_KAFKA_CONTROLLER_PORT', port + 1);

  const pid = runningBrokerPid();
  if (pid) {
    const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : {};
    const brokers = state.brokers ?? `127.0.0.1:${port}`;
    if (fresh) throw new Error(`a broker is already running (pid ${pid}); run \`npm run kafka:down\` before --fresh`);
    await waitForKafka(brokers, { timeoutMs: 20_000 });
    log(`already running (pid ${pid}, data ${dataDir})`);
    process.stdout.write(`KAFKA_BROKERS=${brokers}\n`);
    return;
  }

  if (fresh) rmSync(dataDir, { recursive: true, force: true });
  const broker = await startBroker({ port, controllerPort, dataDir, removeDataDir: false, detached: true, log });
  writeFileSync(pidFile, `${broker.pid}\n`);
  writeFileSync(
    stateFile,
    `${JSON.stringify({ pid: broker.pid, brokers: broker.brokers, port, controllerPort, clusterId: broker.clusterId, dataDir }, null, 2)}\n`,
  );
  log(`pid ${broker.pid}; logs in ${broker.logFile}; stop it with \`npm run kafka:down\``);
  process.stdout.write(`KAFKA_BROKERS=${broker.brokers}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`[kafka:up] ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
