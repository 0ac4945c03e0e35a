import { rmSync } from 'node:fs';
import { RESULTS_DIR } from './report.js';

/** Each fault-suite run starts with an empty table. */
export default function setup(): void {
  rmSync(RESULTS_DIR, { recursive: true, force: true });
}
