// A real single-node Apache Kafka broker (KRaft, broker+controller in one JVM) for lockstep's
// tests and for local development, assembled from Maven Central jars: no Docker and no
// download from Kafka's own site. Needs Java (11+, 17 recommended) and Maven on PATH.
//
//   const { brokers, stop, kill, restart } = await startBroker({ log: console.error });
//
// Plain ESM JavaScript so that scripts and the vitest globalSetup can use it without a build.
// Types: ./broker.d.mts.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;

export const KAFKA_VERSION = '3.9.1';
/** Pinned: Maven 3.8's default maven-dependency-plugin is old. */
export const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.7.1';
export const POM_PATH = join(dirname(fileURLToPath(import.meta.url)), 'pom.xml');

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 15_000;
const LOG_TAIL_LINES = 40;
/** Written into the jar folder once copy-dependencies has succeeded; holds the pom's hash. */
const STAMP_FILE = '.lockstep-kafka-jars';

/** @param {((msg: string) => void) | false | undefined} log */
function logger(log) {
  if (log === false) return () => {};
  if (typeof log === 'function') return log;
  return (msg) => process.stderr.write(`[lockstep-kafka] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Tools: java and mvn

/** The java executable: $LOCKSTEP_JAVA, else $JAVA_HOME/bin/java when it exists, else `java`. */
export function javaCommand() {
  if (process.env.LOCKSTEP_JAVA) return process.env.LOCKSTEP_JAVA;
  const home = process.env.JAVA_HOME;
  if (home && existsSync(join(home, 'bin', 'java'))) return join(home, 'bin', 'java');
  return 'java';
}

/**
 * Checks that java runs and is new enough for Kafka 3.9's broker (Java 11+).
 * @returns {{ command: string, major: number, version: string }}
 */
export function checkJava() {
  const command = javaCommand();
  const res = spawnSync(command, ['-version'], { encoding: 'utf8' });
  if (res.error) {
    const why = /** @type {NodeJS.ErrnoException} */ (res.error).code === 'ENOENT' ? 'was not found' : `could not run (${res.error.message})`;
    throw new Error(
      `Kafka test broker: java ${why} (looked for "${command}"; set JAVA_HOME or LOCKSTEP_JAVA, ` +
        'or install a JDK/JRE 17, e.g. `apt-get install openjdk-17-jre-headless`).',
    );
  }
  const out = `${res.stderr ?? ''}${res.stdout ?? ''}`;
  const m = /version "(\d+)(?:\.(\d+))?[^"]*"/.exec(out);
  if (res.status !== 0 || !m) {
    throw new Error(`Kafka test broker: "${command} -version" failed (exit ${res.status}):\n${out.trim()}`);
  }
  // "1.8.0_392" is Java 8; "17.0.15" is Java 17.
  const major = m[1] === '1' ? Number(m[2]) : Number(m[1]);
  if (major < 11) {
    throw new Error(`Kafka test broker: Kafka ${KAFKA_VERSION} needs Java 11 or newer (17 recommended); "${command}" is Java ${major}.`);
  }
  return { command, major, version: m[0] };
}

function mvnCommand() {
  return process.env.LOCKSTEP_MVN || 'mvn';
}

// ---------------------------------------------------------------------------------------------
// Jars

/** Folder holding the broker's jars: $LOCKSTEP_KAFKA_CACHE, else ~/.cache/lockstep/kafka-3.9.1/libs. */
export function kafkaLibsDir() {
  if (process.env.LOCKSTEP_KAFKA_CACHE) return resolve(process.env.LOCKSTEP_KAFKA_CACHE);
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheHome, 'lockstep', `kafka-${KAFKA_VERSION}`, 'libs');
}

function pomHash() {
  return createHash('sha256').update(readFileSync(POM_PATH)).digest('hex');
}

function jarsAreCached(libsDir, hash) {
  try {
    return readFileSync(join(libsDir, STAMP_FILE), 'utf8').trim() === hash;
  } catch {
    return false;
  }
}

/**
 * Makes sure the broker's jars are in the cache folder, running Maven once
 * (`copy-dependencies` of scripts/kafka/pom.xml). Later calls return at once.
 * @param {{ log?: ((msg: string) => void) | false, libsDir?: string }} [options]
 * @returns {Promise<{ libsDir: string, downloaded: boolean, durationMs: number }>}
 */
export async function ensureKafkaJars(options = {}) {
  const log = logger(options.log);
  const libsDir = options.libsDir ? resolve(options.libsDir) : kafkaLibsDir();
  const hash = pomHash();
  const started = Date.now();
  if (jarsAreCached(libsDir, hash)) return { libsDir, downloaded: false, durationMs: Date.now() - started };

  checkJava();
  const mvn = mvnCommand();
  // Copy into a private folder first and rename it into place, so that a crash or a second
  // process running at the same time never leaves a half-filled cache behind.
  mkdirSync(dirname(libsDir), { recursive: true });
  const staging = mkdtempSync(`${libsDir}.partial-`);
  log(`downloading Kafka ${KAFKA_VERSION} jars from Maven Central into ${libsDir} (once) ...`);
  const args = [
    '-q',
    '-B',
    '-f',
    POM_PATH,
    `${DEPENDENCY_PLUGIN}:copy-dependencies`,
    `-DoutputDirectory=${staging}`,
    '-DincludeScope=runtime',
  ];
  try {
    const { code, output, error } = await run(mvn, args);
    if (error) {
      const why = /** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT' ? 'was not found' : `could not run (${error.message})`;
      throw new Error(
        `Kafka test broker: Maven (${mvn}) ${why}; it is needed once to fetch the Kafka ${KAFKA_VERSION} jars ` +
          '(install it, e.g. `apt-get install maven`, or set LOCKSTEP_MVN).',
      );
    }
    if (code !== 0) {
      throw new Error(
        `Kafka test broker: "${mvn} ${args.join(' ')}" failed (exit ${code}) while fetching the Kafka ${KAFKA_VERSION} jars:\n` +
          tailLines(output, LOG_TAIL_LINES),
      );
    }
    if (!existsSync(join(staging, `kafka_2.13-${KAFKA_VERSION}.jar`))) {
      throw new Error(`Kafka test broker: Maven succeeded but kafka_2.13-${KAFKA_VERSION}.jar is not in ${staging}.`);
    }
    writeFileSync(join(staging, STAMP_FILE), `${hash}\n`);
    if (existsSync(libsDir)) {
      if (jarsAreCached(libsDir, hash)) {
        // Another process finished first.
        return { libsDir, downloaded: true, durationMs: Date.now() - started };
      }
      rmSync(libsDir, { recursive: true, force: true }); // stale (other pom) or incomplete
    }
    try {
      renameSync(staging, libsDir);
    } catch (err) {
      if (!jarsAreCached(libsDir, hash)) throw err;
    }
    const durationMs = Date.now() - started;
    log(`Kafka jars ready in ${(durationMs / 1000).toFixed(1)} s`);
    return { libsDir, downloaded: true, durationMs };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Runs a command, collecting stdout+stderr. */
function run(command, args) {
  return new Promise((resolvePromise) => {
    let output = '';
    let child;
    try {
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      resolvePromise({ code: null, output, error });
      return;
    }
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (error) => resolvePromise({ code: null, output, error }));
    child.on('close', (code) => resolvePromise({ code, output, error: undefined }));
  });
}

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
function portIsFree(port) {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

// ---------------------------------------------------------------------------------------------
// Broker

function kafkaUuid() {
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

function serverProperties({ nodeId, port, controllerPort, logDirs, extra }) {
  /** @type {Record<string, string | number | boolean>} */
  const props = {
    'process.roles': 'broker,controller',
    'node.id': nodeId,
    'controller.quorum.voters': `${nodeId}@${HOST}:${controllerPort}`,
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

function tailLines(text, n) {
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
  writeFileSync(serverProps, serverProperties({ nodeId, port, controllerPort, logDirs, extra: options.properties ?? {} }));
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
    clusterId = kafkaUuid();
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
    '-Xms' + Math.min(256, heapMb) + 'm',
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
        consoleTail = tailLines(consoleTail + text, 50) + '\n';
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
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise((r) => (timer = setTimeout(() => r(true), timeoutMs))),
    ]);
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
