// A definition file that changes while runs of it are in flight: same name and version, a task added. The
// orchestrators and workers are restarted on the new file mid-load. Runs started before finish under the exact
// definition they started with (its sha256 in their state); runs started after use the new one.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadSequenceFile } from '../../src/adapters/fs/load-sequence.js';
import { Deployment, mergeReports, recordedSequence } from './support/deployment.js';
import { RUNS, recordScenario } from './support/report.js';
import { seededRandom, sleep } from './support/seeded-random.js';

const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const BEFORE = recordedSequence('dc', 3, 'sleep 0.1');
const AFTER = recordedSequence('dc', 4, 'sleep 0.1');
const d = new Deployment({ brokers: BROKERS, sequences: { 'dc.yaml': BEFORE } });
afterAll(() => d.stop(), 60_000);

it(`definition-change: dc v1 gains a task while ${RUNS / 2} of its runs are in flight`, async () => {
  const random = seededRandom('definition-change');
  const t0 = Date.now();
  await d.setUp();
  const file = join(d.sequencesDir, 'dc.yaml');
  const before = loadSequenceFile(file);
  const old = [await d.addOrchestrator(), await d.addOrchestrator(), await d.addWorker(), await d.addWorker()];
  const early = await d.startRuns(RUNS / 2, 'dc');
  await sleep(random.int(200, 1_500));

  // The new text, then the services restarted on it one by one: new ones first, then the old ones stopped.
  writeFileSync(file, AFTER);
  // Counted as the file changes: starting the new services takes seconds, and short runs may all end meanwhile.
  const inFlightAtChange = early.length - d.ended(early);
  const after = loadSequenceFile(file);
  expect(after.sequence.name).toBe(before.sequence.name);
  expect(after.sequence.version).toBe(before.sequence.version);
  expect(after.hash).not.toBe(before.hash);
  await d.addOrchestrator();
  await d.addWorker();
  for (const s of random.shuffle(old)) {
    await s.stop('SIGTERM');
    if (s.name.startsWith('orchestrator')) await d.addOrchestrator();
    else await d.addWorker();
  }
  const late = await d.startRuns(RUNS / 2, 'dc');
  await d.waitEnded([...early, ...late], 240_000);
  expect(inFlightAtChange).toBeGreaterThan(0);

  // Each run finished under the definition it started with: its hash, its tasks.
  const tasksOf = (id: string) =>
    d
      .executions()
      .filter((x) => x.runId === id)
      .map((x) => x.taskId);
  for (const id of early) {
    expect(d.states.get(id)).toMatchObject({ status: 'succeeded', definitionHash: before.hash });
    expect([...new Set(tasksOf(id))], id).toEqual(['t1', 't2', 't3']);
  }
  for (const id of late) {
    expect(d.states.get(id)).toMatchObject({ status: 'succeeded', definitionHash: after.hash });
    expect([...new Set(tasksOf(id))], id).toEqual(['t1', 't2', 't3', 't4']);
  }

  // The checker tells the two texts apart by each group's own definition.
  const report = mergeReports([
    d.check(early, { sequenceOf: () => before.sequence, onlyRuns: true }),
    d.check(late, { sequenceOf: () => after.sequence, onlyRuns: true }),
  ]);
  const row = d.row('definition-change', [...early, ...late], report, {
    recoveryMs: null,
    seconds: Math.round((Date.now() - t0) / 1000),
    notes: `dc v1 rewritten with a 4th task (same name and version) ${inFlightAtChange} runs in flight (seed ${random.seed}); 2 orchestrators and 2 workers restarted on it one by one: the ${early.length} runs started before ran 3 tasks under the old sha256, the ${late.length} after ran 4 under the new one`,
  });
  recordScenario(row);
  expect(row.lostRuns).toBe(0);
  expect(row.orderViolations).toBe(0);
  expect(row.duplicateAdvancements).toBe(0);
}, 600_000);
