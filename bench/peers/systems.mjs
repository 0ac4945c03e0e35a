// The systems of bench:peers. Each has setup() (not timed), round(track) -> { runMs } timed by the caller, close().
// `track.begin(run)` / `track.end(run)` are called at a task's start and end inside the task's code: a step is one
// task's end -> the next task's start in the same run, as seen from inside the tasks.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { FlowProducer, Worker } from 'bullmq';
import { createEmbeddedRuntime, sequence } from 'lockstep';
import { createLockstepClient, createWorker, startKafkaOrchestrator } from 'lockstep/kafka';
import { SqliteRunStore } from 'lockstep/sqlite';
import { MemoryRunStore } from '../../dist/adapters/memory/memory-run-store.js';
import { ProgramRegistry } from '../../dist/core/run/registry.js';
import { peakRssMib, startRedis } from './redis.mjs';

/** lockstep embedded: one runtime per round over a fresh store; R runs awaited with rt.run. */
export function lockstepEmbedded({ R, N, makeStore }) {
  return {
    async round(track) {
      let b = sequence('w');
      for (let i = 0; i < N; i++) {
        b = b.then(`t${i}`, async (ctx) => {
          track.begin(ctx.runId);
          track.end(ctx.runId);
        });
      }
      const rt = await createEmbeddedRuntime({ store: makeStore() });
      rt.register(b.build());
      const runMs = await Promise.all(
        Array.from({ length: R }, async () => {
          const s = performance.now();
          await rt.run({ sequence: 'w' });
          return performance.now() - s;
        }),
      );
      await rt.close();
      return { runMs };
    },
  };
}

export const memoryStore = () => new MemoryRunStore();
export const sqliteStore = (dir) => {
  let n = 0;
  return () => SqliteRunStore.open(join(dir, `w-${n++}.db`));
};

/**
 * lockstep over Kafka: an orchestrator and a worker in this process, runs started and awaited through the public
 * client (start + waitAll when the client has it, else Promise.all of wait). A run's time is its start call ->
 * the end of its last task's handler (waitAll answers for all runs at once).
 */
export function lockstepKafka({ R, N, brokers, track: trackRef }) {
  const prefix = `bench-peers-${randomUUID().slice(0, 8)}`;
  const quiet = { brokers, prefix, logLevel: 'nothing' };
  let orchestrator;
  let worker;
  let client;
  const lastEnd = new Map();
  return {
    prefix,
    async setup() {
      let b = sequence('w');
      for (let i = 0; i < N; i++) b = b.then(`t${i}`, { queue: 'peers' });
      const registry = new ProgramRegistry();
      registry.register(b.build(), { definition: 'bench', hash: 'bench' });
      orchestrator = await startKafkaOrchestrator({ ...quiet, registry, partitions: 8 });
      const handler = (ctx) => {
        trackRef.current.begin(ctx.runId);
        trackRef.current.end(ctx.runId);
        if (ctx.taskId === `t${N - 1}`) lastEnd.set(ctx.runId, performance.now());
        return null;
      };
      const handlers = Object.fromEntries(Array.from({ length: N }, (_, i) => [`t${i}`, handler]));
      worker = await createWorker({ ...quiet, queue: 'peers', handlers });
      client = createLockstepClient(quiet);
    },
    async round() {
      const started = new Map();
      const ids = await Promise.all(
        Array.from({ length: R }, async () => {
          const s = performance.now();
          const id = await client.start('w');
          started.set(id, s);
          return id;
        }),
      );
      const opts = { timeoutMs: 600_000 };
      const finals =
        typeof client.waitAll === 'function' ? await client.waitAll(ids, opts) : await Promise.all(ids.map((id) => client.wait(id, opts)));
      const bad = finals.filter((f) => f.status !== 'succeeded').length;
      if (bad > 0) throw new Error(`lockstep-kafka: ${bad} of ${R} runs did not succeed`);
      return { runMs: ids.map((id) => lastEnd.get(id) - started.get(id)) };
    },
    async close() {
      await client?.close();
      await worker?.close({ graceMs: 100 });
      await orchestrator?.close();
    },
  };
}

/**
 * BullMQ flows: each run is a FlowProducer chain of N jobs, t(N-1) the root down to t0 the leaf, so a parent only
 * runs once its child completed: strictly one after the other. One Worker per task queue with `concurrency`.
 * A run's time is flow.add -> the root job's 'completed' event on its worker.
 */
export function bullmqFlows({ R, N, concurrency, track: trackRef }) {
  let redis;
  let flow;
  const workers = [];
  let pending = new Map();
  let seq = 0;
  return {
    get pid() {
      return redis?.pid;
    },
    peakRssMib: () => (redis ? peakRssMib(redis.pid) : undefined),
    async setup() {
      redis = await startRedis();
      const connection = { host: redis.host, port: redis.port };
      for (let i = 0; i < N; i++) {
        const w = new Worker(
          `t${i}`,
          async (job) => {
            trackRef.current.begin(job.data.run);
            trackRef.current.end(job.data.run);
            return null;
          },
          { connection, concurrency, prefix: 'peers' },
        );
        if (i === N - 1) {
          w.on('completed', (job) => {
            pending.get(job.data.run)?.();
            pending.delete(job.data.run);
          });
        }
        w.on('error', (e) => process.stderr.write(`[bench:peers] bullmq worker t${i}: ${e.message}\n`));
        workers.push(w);
      }
      await Promise.all(workers.map((w) => w.waitUntilReady()));
      flow = new FlowProducer({ connection, prefix: 'peers' });
      await flow.waitUntilReady();
    },
    async round() {
      pending = new Map();
      const chain = (run) => {
        let node;
        for (let i = 0; i < N; i++) {
          node = { name: `t${i}`, queueName: `t${i}`, data: { run }, ...(node ? { children: [node] } : {}) };
        }
        return node;
      };
      const runMs = await Promise.all(
        Array.from({ length: R }, async () => {
          const run = `r${seq++}`;
          const done = new Promise((resolve) => pending.set(run, resolve));
          const s = performance.now();
          await flow.add(chain(run));
          await done;
          return performance.now() - s;
        }),
      );
      return { runMs };
    },
    async close() {
      await Promise.allSettled(workers.map((w) => w.close()));
      await flow?.close();
      redis?.stop();
    },
    kill() {
      redis?.stop();
    },
  };
}
