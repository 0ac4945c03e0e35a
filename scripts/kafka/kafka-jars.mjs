// The Kafka jars of lockstep's development broker: resolved from Maven Central with `mvn` (pom.xml beside this
// file) into a cache folder, once per pom change; and the java and mvn commands that use them.
// Plain ESM JavaScript, like broker.mjs, which re-exports what is public here (types: ./broker.d.mts).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOG_TAIL_LINES, tailLines } from './process-tools.mjs';

export const KAFKA_VERSION = '3.9.1';
/** Pinned: Maven 3.8's default maven-dependency-plugin is old. */
export const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.7.1';
export const POM_PATH = join(dirname(fileURLToPath(import.meta.url)), 'pom.xml');

/** Written into the jar folder once copy-dependencies has succeeded; holds the pom's hash. */
const STAMP_FILE = '.lockstep-kafka-jars';

/** @param {((msg: string) => void) | false | undefined} log */
export function logger(log) {
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
    const why =
      /** @type {NodeJS.ErrnoException} */ (res.error).code === 'ENOENT' ? 'was not found' : `could not run (${res.error.message})`;
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
export function run(command, args) {
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
