// A Kafka-mode deployment for fault scenarios: fresh topics, orchestrators and workers as OS processes
// (`node bin/lockstep.js orchestrator|worker`, so `npm run build` first), runs started through the public client,
// and every record of the events, command, history and dead-letter topics kept for the checks.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSequenceFile } from '../../../src/adapters/fs/load-sequence.js';
import type { Envelope } from '../../../src/core/protocol/envelope.js';
import { topicNames } from '../../../src/core/protocol/envelope.js';
import { parseHistoryRecord } from '../../../src/core/protocol/history-record.js';
import type { RunEntry } from '../../../src/core/protocol/run-entry.js';
import type { RunState } from '../../../src/core/protocol/run-state.js';
import type { LockstepClient } from '../../../src/modes/kafka/index.js';
import { createLockstepClient } from '../../../src/modes/kafka/index.js';
import type { DispatchSeen, HistoryCheckOptions, HistoryReport, RunHistory, TaskExecution } from '../../../src/testing/history-checker.js';
import { checkHistory } from '../../../src/testing/history-checker.js';
import { lockstep } from '../../support/cli.js';
import type { LogRecord, Service } from '../../support/kafka-log.js';
import { plainKafka, startService, TopicLog } from '../../support/kafka-log.js';
import type { ScenarioReport } from './report.js';

export interface DeploymentOptions {
  readonly brokers: string;
  /** Sequence files, `name.yaml` -> text; written to a fresh folder given to every process as `--sequences`. */
  readonly sequences: Readonly<Record<string, string>>;
  /** Partitions of every topic. Default 6. */
  readonly partitions?: number;
  /** Replication factor of every topic (`topics create --replication-factor`). Default: the cluster's. */
  readonly replicationFactor?: number;
  /** Queues whose command topics are followed. Default `['default']`. */
  readonly queues?: readonly string[];
  /** Extra arguments of every orchestrator / worker. */
  readonly orchestratorArgs?: readonly string[];
  readonly workerArgs?: readonly string[];
  /** Extra environment of every worker. */
  readonly workerEnv?: NodeJS.ProcessEnv;
}

/**
 * A shell line for a task that records its own execution (start, then end) in the deployment's side-effect log,
 * so that the checker sees real executions, killed ones included (a start with no end). With `endOnStop`, a task
 * stopped by SIGTERM (its worker died, or gave its partition up) records its end too, once its command has stopped.
 */
export const recordedTask = (command = ':', options: { readonly endOnStop?: boolean } = {}): string => {
  const line = (what: string) =>
    `echo "${what} $LOCKSTEP_RUN_ID $LOCKSTEP_TASK_ID $LOCKSTEP_ATTEMPT $(date +%s%3N) $LOCKSTEP_FAULTS_WORKER" >> "$LOCKSTEP_FAULTS_EXECUTIONS"`;
  // PIPE ignored: once a dead worker's pipes are closed, the shell's own report of the stopped command ("Terminated"
  // on stderr) would kill it with SIGPIPE before its TERM trap runs.
  const trap = options.endOnStop ? `trap '' PIPE; trap '${line('end')}; exit 143' TERM; ` : '';
  return `${trap}${line('start')}; ${command}; ${line('end')}`;
};

/** A sequence of `tasks` recorded shell tasks, each running `command`. */
export function recordedSequence(name: string, tasks: number, command = ':', options: { readonly endOnStop?: boolean } = {}): string {
  const lines = Array.from({ length: tasks }, (_, i) => `  - id: t${i + 1}\n    run: ${JSON.stringify(recordedTask(command, options))}\n`);
  return `name: ${name}\nversion: 1\ntasks:\n${lines.join('')}`;
}

/** A scenario's row from a checker report (also for scenarios without a Kafka deployment). */
export function scenarioRow(
  scenario: string,
  runIds: readonly string[],
  report: HistoryReport,
  extra: { recoveryMs: number | null; seconds: number; notes?: string },
): ScenarioReport {
  const c = report.counts;
  // The row says how many; the log says which, so that a violation can be looked into.
  for (const v of report.violations.slice(0, 20)) console.error(`${scenario}: ${v.kind} in run ${v.runId}: ${v.message}`);
  return {
    scenario,
    runsStarted: runIds.length,
    runsFinished: report.finished,
    lostRuns: c['lost-run'] + c.unfinished,
    orderViolations: c.order + c['overlapping-attempts'] + c.finally + c.compensation,
    duplicateDispatches: report.duplicateDispatches,
    duplicateAdvancements: c['duplicate-advancement'],
    ...extra,
  };
}

/** One report of several checks over disjoint groups of runs (see `check`'s `onlyRuns`). */
export function mergeReports(reports: readonly HistoryReport[]): HistoryReport {
  const counts = { ...reports[0]!.counts };
  for (const r of reports.slice(1)) for (const k of Object.keys(counts) as Array<keyof typeof counts>) counts[k] += r.counts[k];
  return {
    runs: reports.reduce((n, r) => n + r.runs, 0),
    finished: reports.reduce((n, r) => n + r.finished, 0),
    waiting: reports.reduce((n, r) => n + r.waiting, 0),
    violations: reports.flatMap((r) => r.violations),
    counts,
    duplicateDispatches: reports.reduce((n, r) => n + r.duplicateDispatches, 0),
  };
}

export class Deployment {
  readonly prefix = `faults-${randomUUID().slice(0, 8)}`;
  readonly topics = topicNames(this.prefix);
  readonly dir = mkdtempSync(join(tmpdir(), 'lockstep-faults-'));
  readonly sequencesDir = join(this.dir, 'sequences');
  /** Side-effect log of recorded tasks (see {@link recordedTask}). */
  readonly executionsFile = join(this.dir, 'executions.log');
  readonly services: Service[] = [];
  /** Each run's last state, from the runs topic. */
  readonly states = new Map<string, RunState>();
  client!: LockstepClient;
  log!: TopicLog;
  #count = 0;

  constructor(readonly options: DeploymentOptions) {}

  get brokers(): string {
    return this.options.brokers;
  }

  get common(): string[] {
    return ['--brokers', this.brokers, '--prefix', this.prefix, '--sequences', this.sequencesDir];
  }

  /** Creates the topics and follows them; starts no service. */
  async setUp(): Promise<void> {
    mkdirSync(this.sequencesDir, { recursive: true });
    for (const [file, text] of Object.entries(this.options.sequences)) writeFileSync(join(this.sequencesDir, file), text);
    writeFileSync(this.executionsFile, '');
    const replication = this.options.replicationFactor ? ['--replication-factor', String(this.options.replicationFactor)] : [];
    const created = await lockstep(
      ['topics', 'create', '--partitions', String(this.options.partitions ?? 6), ...replication, ...this.common],
      // A fresh three-node cluster on a loaded machine can take longer than this helper's 30 s default to elect leaders for
      // every replica; the CLI's own wait (about 30 s per step) must be what ends it, with its message.
      { timeoutMs: 180_000 },
    );
    if (created.code !== 0)
      throw new Error(`topics create exited ${created.code ?? `on ${created.signal}`}: ${created.stderr}${created.stdout}`);
    const queues = this.options.queues ?? ['default'];
    this.log = await TopicLog.start(
      plainKafka(this.brokers),
      [this.topics.events, this.topics.history, this.topics.deadLetter, this.topics.runs, ...queues.map((q) => this.topics.commands(q))],
      (r) => {
        if (r.topic === this.topics.runs && r.key && r.value && !r.key.startsWith('__lockstep.')) {
          const state = JSON.parse(r.value) as RunState;
          if (state.type === 'run.state') this.states.set(r.key, state);
        }
      },
    );
    this.client = createLockstepClient({ brokers: this.brokers, prefix: this.prefix, logLevel: 'nothing' });
  }

  /** Starts an orchestrator process (with `env` added to its environment) and waits until it is ready. */
  async addOrchestrator(args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Service> {
    const service = startService(
      `orchestrator-${++this.#count}`,
      ['orchestrator', ...this.common, '--stats-interval', '500', ...(this.options.orchestratorArgs ?? []), ...args],
      env,
    );
    this.services.push(service);
    await service.ready;
    return service;
  }

  /** Starts a worker process and waits until it is ready. */
  async addWorker(args: readonly string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Service> {
    const name = `worker-${++this.#count}`;
    const service = startService(name, ['worker', ...this.common, ...(this.options.workerArgs ?? []), ...args], {
      LOCKSTEP_FAULTS_EXECUTIONS: this.executionsFile,
      LOCKSTEP_FAULTS_WORKER: name,
      ...this.options.workerEnv,
      ...env,
    });
    this.services.push(service);
    await service.ready;
    return service;
  }

  /** Running services whose name starts with `kind`. */
  running(kind: 'orchestrator' | 'worker'): Service[] {
    return this.services.filter((s) => s.name.startsWith(kind) && s.child.exitCode === null && s.child.signalCode === null);
  }

  /** Starts `n` runs through the public client, `concurrency` at a time. */
  async startRuns(n: number, sequence: string, input: (i: number) => unknown = (i) => ({ i }), concurrency = 50): Promise<string[]> {
    const ids: string[] = new Array(n);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, n) }, async () => {
        while (next < n) {
          const i = next++;
          ids[i] = await this.client.start(sequence, { input: input(i) });
        }
      }),
    );
    return ids;
  }

  ended(runIds: readonly string[]): number {
    return runIds.filter((id) => {
      const s = this.states.get(id);
      return s !== undefined && s.status !== 'running';
    }).length;
  }

  /** Waits until every run has ended; throws with the services' stderr tails when they do not in time. */
  async waitEnded(runIds: readonly string[], timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.ended(runIds) < runIds.length) {
      if (Date.now() > until)
        throw new Error(
          `${this.ended(runIds)} of ${runIds.length} runs ended in ${timeoutMs} ms\n${this.services.map((s) => `--- ${s.name}\n${s.stderr().slice(-(Number(process.env.LOCKSTEP_FAULTS_STDERR) || 2000))}`).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Every `task.dispatch` read off the followed command topics, redeliveries included. */
  dispatches(): DispatchSeen[] {
    const queues = new Set((this.options.queues ?? ['default']).map((q) => this.topics.commands(q)));
    const out: DispatchSeen[] = [];
    for (const r of this.log.records) {
      if (!queues.has(r.topic) || !r.value) continue;
      const env = JSON.parse(r.value) as Envelope;
      if (env.type === 'task.dispatch') out.push({ runId: env.runId, taskId: env.taskId, attempt: env.attempt, phase: env.payload.phase });
    }
    return out;
  }

  /** Every run's history, from the history topic (each record once, in `seq` order). */
  histories(): RunHistory[] {
    const byRun = new Map<string, Map<number, RunEntry>>();
    for (const r of this.log.records) {
      if (r.topic !== this.topics.history || !r.value) continue;
      const parsed = parseHistoryRecord(r.value);
      if (!parsed.success) continue;
      const { runId, seq, entry } = parsed.record;
      const entries = byRun.get(runId) ?? new Map<number, RunEntry>();
      entries.set(seq, entry);
      byRun.set(runId, entries);
    }
    return [...byRun].map(([runId, entries]) => ({
      runId,
      entries: [...entries].sort(([a], [b]) => a - b).map(([, e]) => e),
    }));
  }

  /** What recorded tasks wrote to the side-effect log. */
  executions(): TaskExecution[] {
    const open = new Map<string, { runId: string; taskId: string; attempt: number; startedAt: number; endedAt?: number }>();
    const all: Array<{ runId: string; taskId: string; attempt: number; startedAt: number; endedAt?: number }> = [];
    for (const line of readFileSync(this.executionsFile, 'utf8').split('\n')) {
      const [what, runId, taskId, attempt, at] = line.split(' ');
      if (!runId || !taskId || !attempt || !at) continue;
      const key = `${runId} ${taskId} ${attempt}`;
      if (what === 'start') {
        const e = { runId, taskId, attempt: Number(attempt), startedAt: Number(at) };
        open.set(key, e);
        all.push(e);
      } else if (what === 'end') {
        const e = open.get(key);
        if (e) {
          e.endedAt = Number(at);
          open.delete(key);
        }
      }
    }
    return all;
  }

  /** Recorded tasks a worker (by service name) has started and not ended, from the side-effect log. */
  inFlightOn(worker: string): number {
    const open = new Set<string>();
    for (const line of readFileSync(this.executionsFile, 'utf8').split('\n')) {
      const [what, runId, taskId, attempt, , on] = line.split(' ');
      if (on !== worker) continue;
      if (what === 'start') open.add(`${runId} ${taskId} ${attempt}`);
      else if (what === 'end') open.delete(`${runId} ${taskId} ${attempt}`);
    }
    return open.size;
  }

  /**
   * Runs the history checker over everything the deployment saw. `sequenceOf` overrides how a run's sequence is
   * found (the sequence files by name and version, by default); with `onlyRuns`, only the histories, dispatches and
   * executions of `runIds` are checked (a scenario whose runs ran different definitions checks each group alone).
   */
  check(runIds: readonly string[], options: { sequenceOf?: HistoryCheckOptions['sequenceOf']; onlyRuns?: boolean } = {}): HistoryReport {
    const sequences = new Map(
      Object.keys(this.options.sequences).map((file) => {
        const s = loadSequenceFile(join(this.sequencesDir, file)).sequence;
        return [`${s.name}@${s.version}`, s] as const;
      }),
    );
    const only = options.onlyRuns ? new Set(runIds) : undefined;
    const mine = <T extends { runId: string }>(items: T[]): T[] => (only ? items.filter((x) => only.has(x.runId)) : items);
    return checkHistory(mine(this.histories()), {
      sequenceOf: options.sequenceOf ?? ((name, version) => sequences.get(`${name}@${version}`)),
      expectedRunIds: runIds,
      dispatches: mine(this.dispatches()),
      executions: mine(this.executions()),
    });
  }

  /** The scenario's row from a checker report. */
  row(
    scenario: string,
    runIds: readonly string[],
    report: HistoryReport,
    extra: { recoveryMs: number | null; seconds: number; notes?: string },
  ): ScenarioReport {
    return scenarioRow(scenario, runIds, report, extra);
  }

  /** Records as read, for scenario-specific checks. */
  of(topic: string): LogRecord[] {
    return this.log.of(topic);
  }

  async stop(): Promise<void> {
    await Promise.all(this.services.map((s) => s.stop('SIGKILL')));
    await this.log?.stop().catch(() => {});
    await this.client?.close().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
