// A worker joins while another one runs long tasks on every partition of the queue: the busy partition that moves
// is handed off. Its attempt stops on the old owner and runs again on the new one only once it has ended there, as
// the tasks' own side-effect log (start and end lines written by the shell) shows; every run still finishes.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { partitionOf } from '../../src/adapters/kafka/kafka-client.js';
import { sha256Hex } from '../../src/core/hash.js';
import { ProgramRegistry } from '../../src/core/run/registry.js';
import { sequence } from '../../src/core/sequence/builder.js';
import { definitionText } from '../../src/modes/embedded/embedded-runtime.js';
import type { KafkaWorker, LockstepClient } from '../../src/modes/kafka/index.js';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from '../../src/modes/kafka/index.js';
import { runShellTask } from '../../src/runtime/shell-task.js';

const brokers = inject('kafkaBrokers');
const base = { brokers, logLevel: 'nothing' as const };
const PARTITIONS = 2;

// 4 s of work. The shell writes its own start and end (on SIGTERM too, once its `sleep` has been stopped).
const WORK = `
line() { echo "$1 $KEY $(date +%s%3N) $WORKER" >> "$LOG"; }
trap 'line end; exit 143' TERM
line start
sleep 4 & wait $!
line end`;

interface Execution {
  readonly key: string;
  readonly worker: string;
  readonly start: number;
  end?: number;
}

function executions(file: string): Execution[] {
  const all: Execution[] = [];
  const open = new Map<string, Execution>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [what, key, at, worker] = line.split(' ');
    if (!key || !at || !worker) continue;
    const id = `${key} ${worker}`;
    if (what === 'start') {
      const e: Execution = { key, worker, start: Number(at) };
      all.push(e);
      open.set(id, e);
    } else if (what === 'end') {
      const e = open.get(id);
      if (e) e.end = Number(at);
      open.delete(id);
    }
  }
  return all;
}

describe('worker handoff', () => {
  const prefix = `wh-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-handoff-'));
  const log = join(dir, 'executions.log');
  writeFileSync(log, '');
  const closers: Array<{ close(): Promise<void> }> = [];
  let client: LockstepClient | undefined;
  const long = sequence('long').then('work', { queue: 'q' }).then('after', { queue: 'q' }).build();
  const registry = new ProgramRegistry();
  registry.register(long, { definition: definitionText(long), hash: sha256Hex(definitionText(long)) });

  const worker = async (name: string): Promise<KafkaWorker> => {
    const w = await createWorker({
      ...base,
      prefix,
      queue: 'q',
      handlers: {
        work: async (ctx) => {
          await runShellTask({ run: WORK, env: { KEY: `${ctx.runId}:${ctx.attempt}`, WORKER: name, LOG: log }, signal: ctx.signal });
          return { by: name };
        },
        after: () => 'done',
      },
    });
    closers.push(w);
    return w;
  };

  afterAll(async () => {
    for (const c of closers.reverse()) await ('inFlight' in c ? (c as KafkaWorker).close({ graceMs: 100 }) : c.close()).catch(() => {});
    await client?.close();
  });

  it('never runs one attempt on two workers at once, and the runs finish', async () => {
    closers.push(await startKafkaOrchestrator({ ...base, prefix, registry, partitions: PARTITIONS }));
    await worker('A');
    client = createLockstepClient({ ...base, prefix });
    // Two runs on each partition: both partitions of worker A are busy when B joins.
    const ids: string[] = [];
    const per = new Map<number, number>();
    while (ids.length < 4) {
      const id = randomUUID();
      const p = partitionOf(id, PARTITIONS);
      if ((per.get(p) ?? 0) >= 2) continue;
      per.set(p, (per.get(p) ?? 0) + 1);
      ids.push(id);
    }
    for (const runId of ids) await client.start('long', { runId });
    const deadline = Date.now() + 30_000;
    while (executions(log).length < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(executions(log).length).toBe(ids.length);
    await worker('B');

    const finals = await Promise.all(ids.map((id) => client!.wait(id, { timeoutMs: 90_000 })));
    expect(finals.map((f) => f.status)).toEqual(ids.map(() => 'succeeded'));

    const all = executions(log);
    // Every execution recorded its end, and no two executions of one run overlap.
    expect(all.filter((e) => e.end === undefined)).toEqual([]);
    const overlapping: string[] = [];
    for (const id of ids) {
      const mine = all.filter((e) => e.key.startsWith(`${id}:`)).sort((a, b) => a.start - b.start);
      for (let i = 1; i < mine.length; i++)
        if (mine[i - 1]!.end! > mine[i]!.start) overlapping.push(`${JSON.stringify(mine[i - 1])} overlaps ${JSON.stringify(mine[i])}`);
    }
    expect(overlapping).toEqual([]);
    // The moved partition's attempts were handed off: stopped on A, run again on B.
    const redone = all.filter((e) => e.worker === 'B');
    expect(redone.length).toBeGreaterThan(0);
    for (const e of redone) expect(all.some((a) => a.worker === 'A' && a.key === e.key && a.end! <= e.start)).toBe(true);
  }, 120_000);
});
