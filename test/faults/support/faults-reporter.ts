import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reporter } from 'vitest/node';
import type { ScenarioReport } from './report.js';
import { PROFILE, RESULTS_DIR } from './report.js';

const COLUMNS: Array<[string, (r: ScenarioReport) => string]> = [
  ['scenario', (r) => r.scenario],
  ['started', (r) => String(r.runsStarted)],
  ['finished', (r) => String(r.runsFinished)],
  ['lost', (r) => String(r.lostRuns)],
  ['order violations', (r) => String(r.orderViolations)],
  ['duplicate dispatches', (r) => String(r.duplicateDispatches)],
  ['duplicate advancements', (r) => String(r.duplicateAdvancements)],
  ['recovery', (r) => (r.recoveryMs === null ? '-' : `${(r.recoveryMs / 1000).toFixed(1)} s`)],
  ['time', (r) => `${r.seconds.toFixed(0)} s`],
];

/** Prints the fault suite's table, one line per scenario, and writes it to `<results>/table.md`. */
export default class FaultsReporter implements Reporter {
  onTestRunEnd(): void {
    if (!existsSync(RESULTS_DIR)) return;
    const rows = readdirSync(RESULTS_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as ScenarioReport);
    const lines = [
      `| ${COLUMNS.map(([h]) => h).join(' | ')} |`,
      `| ${COLUMNS.map(() => '---').join(' | ')} |`,
      ...rows.map((r) => `| ${COLUMNS.map(([, f]) => f(r)).join(' | ')} |`),
    ];
    const notes = rows.filter((r) => r.notes).map((r) => `- ${r.scenario}: ${r.notes}`);
    const text = `Fault suite, profile ${PROFILE}:\n\n${lines.join('\n')}\n${notes.length ? `\n${notes.join('\n')}\n` : ''}`;
    writeFileSync(join(RESULTS_DIR, 'table.md'), text);
    process.stdout.write(`\n${text}`);
  }
}
