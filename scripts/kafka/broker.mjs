// A real single-node Apache Kafka broker (KRaft, broker+controller in one JVM) for lockstep's
// tests and for local development, assembled from Maven Central jars: no Docker and no
// download from Kafka's own site. Needs Java (11+, 17 recommended) and Maven on PATH.
//
//   const { brokers, stop, kill, restart } = await startBroker({ log: console.error });
//
// Plain ESM JavaScript so that scripts and the vitest globalSetup can use it without a build.
// Types: ./broker.d.mts.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import kafkajs from 'kafkajs';
import {
  checkJava,
  DEPENDENCY_PLUGIN,
  ensureKafkaJars,
  javaCommand,
  KAFKA_VERSION,
  kafkaLibsDir,
  logger,
  POM_PATH,
  run,
} from './kafka-jars.mjs';
import { freePort, isAlive, LOG_TAIL_LINES, portIsFree, STOP_TIMEOUT_MS, sleep, stopPid, tailFile, tailLines } from './process-tools.mjs';

export {
  checkJava,
  DEPENDENCY_PLUGIN,
  ensureKafkaJars,
  freePort,
  isAlive,
  javaCommand,
  KAFKA_VERSION,
  kafkaLibsDir,
  POM_PATH,
  stopPid,
  tailFile,
};

const { Kafka, logLevel } = kafkajs;

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 90_000;

// ---------------------------------------------------------------------------------------------
// Broker

export function kafkaUuid() {
  // Like org.apache.kafka.common.Uuid.randomUuid(): 16 random bytes, URL-safe base64, no padding;
  // Kafka refuses ids starting with '-' (they look like command-line flags).
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function propValue(value) {
  return String(value).replace(/\\/g, '\\\\');
}

function serverProperties({ nodeId, port, controllerPort, voters, logDirs, extra }) {
  /** @type {Record<string, string | number | boolean>} */
  const props = {
    'process.roles': 'broker,controller',
    'node.id': nodeId,
    'controller.quorum.voters': voters ?? `${nodeId}@${HOST}:${controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': logDirs,
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': false,
    // After a SIGKILL the restarted broker cannot register until its previous incarnation's
    // session has expired (Kafka's default 9 s, plus registration back-off: ~15 s to restart);
    // 6 s brings a kill+restart down to ~8 s. Still 6 missed heartbeats before fencing.
    'broker.session.timeout.ms': 6000,
    'broker.heartbeat.interval.ms': 1000,
    ...extra,
  };
  return `${Object.entries(props)
    .map(([k, v]) => `${k}=${propValue(v)}`)
    .join('\n')}\n`;
}

function log4jProperties(logFile) {
  // Everything at INFO into a file in the data dir; only WARN and above on the console (stderr).
  return [
    'log4j.rootLogger=INFO, file, console',
    'log4j.appender.file=org.apache.log4j.FileAppender',
    `log4j.appender.file.File=${propValue(logFile)}`,
    'log4j.appender.file.Append=true',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.appender.console=org.apache.log4j.ConsoleAppender',
    'log4j.appender.console.Target=System.err',
    'log4j.appender.console.Threshold=WARN',
    'log4j.appender.console.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.console.layout.ConversionPattern=[%d] %p %m (%c)%n',
    // Chatty loggers (as in Kafka's own config/log4j.properties).
    'log4j.logger.kafka=INFO',
    'log4j.logger.org.apache.kafka=INFO',
    'log4j.logger.state.change.logger=INFO',
    'log4j.logger.kafka.request.logger=WARN',
    '',
  ].join('\n');
}

/**
 * Waits until a kafkajs admin describeCluster() against `brokers` succeeds.
 * @param {string} brokers
 * @param {{ timeoutMs?: number, clusterId?: string, isDead?: () => string | undefined }} [options]
 * @returns {Promise<{ clusterId: string, controller: number | null, brokers: Array<{ nodeId: number, host: string, port: number }> }>}
 */
export async function waitForKafka(brokers, { timeoutMs = READY_TIMEOUT_MS, clusterId, isDead } = {}) {
  const kafka = new Kafka({
    clientId: 'lockstep-kafka-probe',
    brokers: brokers.split(',').map((b) => b.trim()),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  });
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt made';
  for (;;) {
    const dead = isDead?.();
    if (dead) throw new Error(dead);
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (clusterId && cluster.clusterId !== clusterId) {
        throw new Error(
          `${brokers} answers with cluster id ${cluster.clusterId}, not ${clusterId}: another Kafka is listening on that port`,
        );
      }
      return cluster;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message.includes('another Kafka')) throw new Error(`Kafka test broker: ${message}`);
      lastError = message;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (Date.now() >= deadline) {
      throw new Error(`Kafka at ${brokers} did not answer describeCluster() within ${timeoutMs / 1000} s (last error: ${lastError})`);
    }
    await sleep(250);
  }
}

/** Brokers started by this process and still running: killed if the process exits without stop(). */
const running = new Set();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/**
 * Starts a single-node KRaft Kafka broker and waits until it serves requests.
 * See broker.d.mts for the options and the returned handle.
 */
export async function startBroker(options = {}) {
  const log = logger(options.log);
  const heapMb = options.heapMb ?? 512;
  const nodeId = options.nodeId ?? 1;
  const readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const detached = options.detached ?? false;

  const { libsDir } = await ensureKafkaJars({ log: options.log, libsDir: options.libsDir });
  const java = checkJava().command;

  const port = options.port ?? (await freePort());
  let controllerPort = options.controllerPort ?? (await freePort());
  while (controllerPort === port) controllerPort = await freePort();
  for (const p of [port, controllerPort]) {
    if (p === 9092 || p === 9093) throw new Error(`Kafka test broker: refusing port ${p} (Kafka's default; a real Kafka may live there).`);
  }

  const createdDataDir = !options.dataDir;
  const dataDir = options.dataDir ? resolve(options.dataDir) : mkdtempSync(join(tmpdir(), 'lockstep-kafka-'));
  const removeDataDir = options.removeDataDir ?? createdDataDir;
  mkdirSync(dataDir, { recursive: true });
  const logDirs = join(dataDir, 'kraft-logs');
  const logFile = join(dataDir, 'broker.log');
  const consoleFile = join(dataDir, 'broker.out');
  const serverProps = join(dataDir, 'server.properties');
  const log4jProps = join(dataDir, 'log4j.properties');
  writeFileSync(
    serverProps,
    serverProperties({ nodeId, port, controllerPort, voters: options.voters, logDirs, extra: options.properties ?? {} }),
  );
  writeFileSync(log4jProps, log4jProperties(logFile));

  const classpath = `${libsDir}/*`;
  const log4jArg = `-Dlog4j.configuration=file:${log4jProps}`;
  const brokers = `${HOST}:${port}`;

  // Format the storage once; a data dir that already holds a formatted log is reused as is.
  let clusterId;
  const metaFile = join(logDirs, 'meta.properties');
  if (existsSync(metaFile)) {
    clusterId = /^cluster\.id=(.*)$/m.exec(readFileSync(metaFile, 'utf8'))?.[1]?.trim();
  } else {
    clusterId = options.clusterId ?? kafkaUuid();
    const { code, output, error } = await run(java, [
      '-Xmx256m',
      '-cp',
      classpath,
      log4jArg,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      serverProps,
    ]);
    if (error || code !== 0) {
      if (removeDataDir) rmSync(dataDir, { recursive: true, force: true });
      throw new Error(
        `Kafka test broker: formatting the storage failed (exit ${code}): ${error?.message ?? ''}\n${tailLines(output, LOG_TAIL_LINES)}`,
      );
    }
  }

  const jvmArgs = [
    `-Xms${Math.min(256, heapMb)}m`,
    `-Xmx${heapMb}m`,
    '-XX:+ExitOnOutOfMemoryError',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    ...(options.jvmArgs ?? []),
    '-cp',
    classpath,
    log4jArg,
    'kafka.Kafka',
    serverProps,
  ];

  /** @type {import('node:child_process').ChildProcess | undefined} */
  let child;
  let exit; // { code, signal } once the current process has exited
  let exited; // promise resolved on exit of the current process
  let consoleTail = '';
  let stopped = false;

  const describeDeath = () => {
    if (!exit) return undefined;
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    return (
      `Kafka test broker on ${brokers} stopped during start-up (${how}).\n` +
      `--- console ---\n${tailLines(consoleTail || tailFile(consoleFile), 20)}\n` +
      `--- ${logFile} (tail) ---\n${tailFile(logFile)}`
    );
  };

  async function startProcess() {
    if (child && !exit) throw new Error(`Kafka test broker on ${brokers} is already running (pid ${child.pid}).`);
    if (stopped) throw new Error('Kafka test broker: stop() was called; start a new broker instead.');
    for (const p of [port, controllerPort]) {
      // Also keeps us from mistaking someone else's Kafka on this port for ours.
      if (!(await portIsFree(p))) throw new Error(`Kafka test broker: port ${HOST}:${p} is already in use.`);
    }
    const startedAt = Date.now();
    exit = undefined;
    consoleTail = '';
    if (detached) {
      const fd = openSync(consoleFile, 'a');
      child = spawn(java, jvmArgs, { cwd: dataDir, detached: true, stdio: ['ignore', fd, fd] });
      closeSync(fd);
    } else {
      child = spawn(java, jvmArgs, { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'] });
      const onData = (d) => {
        const text = d.toString();
        consoleTail = `${tailLines(consoleTail + text, 50)}\n`;
        for (const line of text.split('\n')) if (line.trim()) log(`broker: ${line}`);
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      running.add(child);
      installExitHook();
    }
    const current = child;
    exited = new Promise((resolvePromise) => {
      current.on('error', (err) => {
        exit = { code: null, signal: null, error: err };
        consoleTail += `${err.message}\n`;
        running.delete(current);
        resolvePromise();
      });
      current.on('exit', (code, signal) => {
        exit = { code, signal };
        running.delete(current);
        resolvePromise();
      });
    });
    log(`starting Kafka ${KAFKA_VERSION} broker on ${brokers} (controller ${HOST}:${controllerPort}, pid ${child.pid}, data ${dataDir})`);
    try {
      await waitForKafka(brokers, { timeoutMs: readyTimeoutMs, clusterId, isDead: describeDeath });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await killProcess('SIGKILL');
      if (message.includes('stopped during start-up')) throw new Error(message);
      throw new Error(`Kafka test broker did not become ready: ${message}\n--- ${logFile} (tail) ---\n${tailFile(logFile)}`);
    }
    if (detached) child.unref();
    log(`Kafka broker ready on ${brokers} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  }

  async function killProcess(signal = 'SIGKILL', timeoutMs = STOP_TIMEOUT_MS) {
    const current = child;
    if (!current || exit) return;
    try {
      current.kill(signal);
    } catch {
      /* gone */
    }
    let timer;
    const timedOut = await Promise.race([exited.then(() => false), new Promise((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
    clearTimeout(timer);
    if (timedOut && !exit) {
      log(`Kafka broker pid ${current.pid} ignored ${signal} for ${timeoutMs / 1000} s; sending SIGKILL`);
      try {
        current.kill('SIGKILL');
      } catch {
        /* gone */
      }
      await exited;
    }
  }

  const handle = {
    brokers,
    host: HOST,
    port,
    controllerPort,
    clusterId,
    dataDir,
    logFile,
    get pid() {
      return child?.pid;
    },
    isRunning() {
      return Boolean(child && !exit);
    },
    async kill(signal = 'SIGKILL') {
      await killProcess(signal);
    },
    async start() {
      await startProcess();
    },
    async restart({ signal = 'SIGTERM' } = {}) {
      await killProcess(signal);
      await startProcess();
    },
    async stop() {
      if (stopped) return;
      await killProcess('SIGTERM');
      stopped = true;
      if (removeDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };

  try {
    await startProcess();
  } catch (err) {
    stopped = true;
    if (removeDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return handle;
}

/**
 * The broker a bench uses: `KAFKA_BROKERS` when it is set, else one started for the bench, which it must stop
 * (the returned handle; `undefined` when none was started). Sets `KAFKA_BROKERS` either way.
 */
export async function brokerForBench(log) {
  if (process.env.KAFKA_BROKERS) return undefined;
  log('KAFKA_BROKERS not set: starting a broker for the bench');
  const broker = await startBroker({ log: false });
  process.env.KAFKA_BROKERS = broker.brokers;
  return broker;
}
