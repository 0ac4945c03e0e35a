import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadSequenceFile } from '../../src/adapters/fs/load-sequence.js';
import { formatReport, replayCommand } from '../../src/cli/report/path-report.js';
import type { Invariant } from '../../src/core/paths/invariants.js';
import { testSequence } from '../../src/testing/test-sequence.js';
import { plantedBugs } from '../support/faults.js';

const MACHINES = fileURLToPath(new URL('../../machines/', import.meta.url));

/** Where each planted bug shows, and the invariant that must catch it. */
const cases: Record<keyof typeof plantedBugs, { file: string; invariant: Invariant }> = {
  'finally skipped on cancel': { file: 'cleanup-always.yaml', invariant: 'finally' },
  'finally skipped on failure': { file: 'compensation.yaml', invariant: 'finally' },
  'compensation order reversed': { file: 'compensation.yaml', invariant: 'compensation' },
  'retry beyond maxAttempts': { file: 'hello.yaml', invariant: 'attempts' },
  'duplicate completion applied twice': { file: 'hello.yaml', invariant: 'ignored' },
  'task dispatched before its predecessor finished': { file: 'hello.yaml', invariant: 'order' },
  "a retry's timeout lost": { file: 'retry-backoff.yaml', invariant: 'follows-path' },
  'finally task executed twice': { file: 'cleanup-always.yaml', invariant: 'finally' },
  'next attempt dispatched while the stopped one still runs': { file: 'retry-backoff.yaml', invariant: 'no-overlap' },
  'the task after a wait started while it waits': { file: 'approval.yaml', invariant: 'waits' },
  "a signal wait's expiry not recorded": { file: 'approval.yaml', invariant: 'waits' },
};

describe('lockstep test catches planted bugs', () => {
  for (const [bug, { file, invariant }] of Object.entries(cases) as Array<[keyof typeof plantedBugs, (typeof cases)[keyof typeof cases]]>) {
    it(`${bug}: reports a failing path (${invariant}) with a command that replays it`, async () => {
      const path = join(MACHINES, file);
      const { sequence } = loadSequenceFile(path);
      const faults = plantedBugs[bug];
      const report = await testSequence(sequence, { __unsafe_faults: faults });
      expect(report.failed.length).toBeGreaterThan(0);
      const caught = report.failed.filter((r) => r.violations.some((v) => v.invariant === invariant));
      expect(caught.length, `violations: ${JSON.stringify(report.failed[0]?.violations)}`).toBeGreaterThan(0);

      const text = formatReport(file, report).join('\n');
      const first = /^FAIL path ([A-Z]+): /m.exec(text);
      expect(first).not.toBeNull();
      const id = first![1]!;
      expect(text).toContain(`replay: ${replayCommand(file, id)}`);

      // The replay reproduces the failure; the same path passes on the real runtime.
      const replay = await testSequence(sequence, { __unsafe_faults: faults, paths: [id] });
      expect(replay.failed).toHaveLength(1);
      expect(replay.failed[0]!.violations).toEqual(report.runs.find((r) => r.path.id === id)!.violations);
      const clean = await testSequence(sequence, { paths: [id] });
      expect(clean.failed).toHaveLength(0);
    });
  }
});
