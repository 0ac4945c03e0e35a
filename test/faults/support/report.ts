import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../support/cli.js';

/** `short` (CI: every scenario, fewer runs) or `long` (the acceptance figures: at least 500 runs cross each fault). */
export type FaultsProfile = 'short' | 'long';

export const PROFILE: FaultsProfile = process.env.LOCKSTEP_FAULTS_PROFILE === 'long' ? 'long' : 'short';

/** Runs each scenario starts: `LOCKSTEP_FAULTS_RUNS`, else 500 in the long profile and 100 in the short one. */
export const RUNS = Number(process.env.LOCKSTEP_FAULTS_RUNS ?? (PROFILE === 'long' ? 500 : 100));

/** Where scenario rows are written; the faults reporter prints them as one table at the end. */
export const RESULTS_DIR = process.env.LOCKSTEP_FAULTS_RESULTS ?? join(ROOT, '.faults');

/** One line of the suite's table. */
export interface ScenarioReport {
  readonly scenario: string;
  readonly runsStarted: number;
  readonly runsFinished: number;
  readonly lostRuns: number;
  readonly orderViolations: number;
  readonly duplicateDispatches: number;
  readonly duplicateAdvancements: number;
  /** Milliseconds from the fault until service resumed; null where the scenario has no such moment. */
  readonly recoveryMs: number | null;
  /** Wall time of the scenario. */
  readonly seconds: number;
  /** Why a nonzero duplicate-dispatch count is expected, or what the fault was exactly. */
  readonly notes?: string;
}

/** Records a scenario's row (call once per scenario, after its checks). */
export function recordScenario(report: ScenarioReport): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${report.scenario.replace(/[^a-z0-9-]+/gi, '-')}.json`;
  writeFileSync(join(RESULTS_DIR, file), `${JSON.stringify({ ...report, profile: PROFILE }, null, 2)}\n`);
}
