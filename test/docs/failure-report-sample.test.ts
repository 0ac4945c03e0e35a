// The failure report docs/testing-sequences.md shows ("When a path fails") is what `lockstep test` prints for the
// runtime it describes: one that runs compensations in definition order, the planted bug of that name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadSequenceFile } from '../../src/adapters/fs/load-sequence.js';
import { formatReport } from '../../src/cli/report/path-report.js';
import { testSequence } from '../../src/testing/test-sequence.js';
import { ROOT } from '../support/cli.js';
import { plantedBugs } from '../support/faults.js';

/** The ```text block of docs/testing-sequences.md that starts with `FAIL path`. */
function shownReport(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/testing-sequences.md'), 'utf8');
  const block = /```text\n(FAIL path [\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/testing-sequences.md has no ```text block starting with "FAIL path"');
  return block[1]!.trimEnd().split('\n');
}

it('docs/testing-sequences.md shows the failure report lockstep test prints for compensations run in definition order', async () => {
  const shown = shownReport();
  const file = /replay: lockstep test (\S+) --path ([A-Z]+)$/.exec(shown.at(-1)!);
  expect(file, 'the report ends with its replay command').not.toBeNull();
  const [, path, id] = file!;
  const { sequence } = loadSequenceFile(join(ROOT, path!));
  const report = await testSequence(sequence, { __unsafe_faults: plantedBugs['compensation order reversed'], paths: [id!] });
  const printed = formatReport(path!, report);
  const start = printed.findIndex((l) => l.startsWith('FAIL path '));
  expect(printed.slice(start, start + shown.length)).toEqual(shown);
  // And the runtime as it is passes that path.
  expect((await testSequence(sequence, { paths: [id!] })).failed).toEqual([]);
});
