// Types for ./broker.mjs (a real single-node Kafka 3.9.1 broker built from Maven Central jars).

/** Receives progress lines; `false` silences them. Default: lines on stderr prefixed "[lockstep-kafka]". */
export type KafkaLog = ((message: string) => void) | false;

export declare const KAFKA_VERSION: string;
export declare const DEPENDENCY_PLUGIN: string;
/** Absolute path of scripts/kafka/pom.xml. */
export declare const POM_PATH: string;

/** The java executable: $LOCKSTEP_JAVA, else $JAVA_HOME/bin/java when it exists, else `java`. */
export declare function javaCommand(): string;
/** Throws a clear Error when java is missing or older than 11. */
export declare function checkJava(): { command: string; major: number; version: string };

/** Folder holding the jars: $LOCKSTEP_KAFKA_CACHE, else ~/.cache/lockstep/kafka-3.9.1/libs ($XDG_CACHE_HOME honoured). */
export declare function kafkaLibsDir(): string;

export interface EnsureKafkaJarsOptions {
  log?: KafkaLog;
  /** Overrides kafkaLibsDir(). */
  libsDir?: string;
}
export interface EnsureKafkaJarsResult {
  libsDir: string;
  /** false when the cache was already complete (the call then returns at once). */
  downloaded: boolean;
  durationMs: number;
}
/**
 * Runs Maven once (`mvn -q -B -f scripts/kafka/pom.xml maven-dependency-plugin:3.7.1:copy-dependencies`)
 * and caches the jars. Throws a clear Error when java or mvn is missing or Maven fails.
 */
export declare function ensureKafkaJars(options?: EnsureKafkaJarsOptions): Promise<EnsureKafkaJarsResult>;

/** A free TCP port on 127.0.0.1 chosen by the OS (never 9092/9093). */
export declare function freePort(): Promise<number>;

export interface StartBrokerOptions {
  /** Client (PLAINTEXT) port on 127.0.0.1. Default: a free port. 9092/9093 are refused. */
  port?: number;
  /** KRaft controller port on 127.0.0.1. Default: a free port. */
  controllerPort?: number;
  /**
   * Holds server.properties, log4j.properties, broker.log (INFO and up), broker.out (detached
   * console) and kraft-logs/ (the log dirs). Default: a fresh temp dir, removed by stop().
   * A given dir whose storage is already formatted is reused (its data survives).
   */
  dataDir?: string;
  /** Remove dataDir in stop(). Default: true for the temp dir, false for a given dataDir. */
  removeDataDir?: boolean;
  /** -Xmx in MB (-Xms is min(256, heapMb)). Default 512. */
  heapMb?: number;
  /** Default 1. */
  nodeId?: number;
  /**
   * `controller.quorum.voters`, for a node of a cluster (see ./cluster.mjs): `id@host:port,...`.
   * Default: this node alone, `<nodeId>@127.0.0.1:<controllerPort>`.
   */
  voters?: string;
  /** The cluster id the storage is formatted with (every node of a cluster shares one). Default: a fresh one. */
  clusterId?: string;
  /** Extra or overriding server.properties entries. */
  properties?: Record<string, string | number | boolean>;
  /** Extra JVM flags, before the main class. */
  jvmArgs?: string[];
  /** How long to wait for describeCluster() to succeed. Default 90 000. */
  readyTimeoutMs?: number;
  /**
   * Start the JVM in its own process group with its console in dataDir/broker.out, and let
   * this Node process exit while the broker keeps running (used by `npm run kafka:up`).
   * Default false: the broker's console (WARN and up) goes to `log`, and the broker is
   * SIGKILLed if this process exits without calling stop().
   */
  detached?: boolean;
  libsDir?: string;
  log?: KafkaLog;
}

export interface KafkaBroker {
  /** "127.0.0.1:PORT", for kafkajs `brokers` / KAFKA_BROKERS. */
  readonly brokers: string;
  readonly host: string;
  readonly port: number;
  readonly controllerPort: number;
  readonly clusterId: string | undefined;
  readonly dataDir: string;
  /** dataDir/broker.log */
  readonly logFile: string;
  /** pid of the current JVM (changes on restart). */
  readonly pid: number | undefined;
  isRunning(): boolean;
  /**
   * Sends `signal` (default SIGKILL) to the JVM and waits until it has exited (escalating to
   * SIGKILL after 15 s). Keeps the data dir and ports: call start() or restart() afterwards.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the JVM again on the same data dir and ports and waits until it is ready. */
  start(): Promise<void>;
  /** kill(signal, default SIGTERM: a clean shutdown) if running, then start(). */
  restart(options?: { signal?: NodeJS.Signals }): Promise<void>;
  /** SIGTERM, up to 15 s, then SIGKILL; removes the data dir when it was a temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Writes server.properties + log4j.properties, formats the storage (KRaft, single node,
 * replication 1), spawns `java -Xms256m -Xmx512m -XX:+ExitOnOutOfMemoryError ... kafka.Kafka`
 * and resolves once a kafkajs admin describeCluster() succeeds against it (and reports this
 * broker's cluster id). Calls ensureKafkaJars() first. Rejects with the tail of broker.log
 * when the broker exits or is not ready within readyTimeoutMs.
 */
export declare function startBroker(options?: StartBrokerOptions): Promise<KafkaBroker>;

/** Waits until a kafkajs admin describeCluster() against `brokers` succeeds. */
export declare function waitForKafka(
  brokers: string,
  options?: { timeoutMs?: number; clusterId?: string; isDead?: () => string | undefined },
): Promise<{ clusterId: string; controller: number | null; brokers: Array<{ nodeId: number; host: string; port: number }> }>;

/** SIGTERM (or `signal`), wait up to timeoutMs (15 000), then SIGKILL. Resolves true once the process is gone. */
export declare function stopPid(pid: number, options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<boolean>;
/** True while a (non-zombie) process with this pid exists. */
export declare function isAlive(pid: number): boolean;
/** The last n (default 40) lines of a file; '' if it is missing. */
export declare function tailFile(file: string, n?: number): string;

/** A fresh Kafka cluster id (16 random bytes, URL-safe base64, never starting with '-'). */
export declare function kafkaUuid(): string;
