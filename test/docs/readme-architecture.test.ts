// The README's Architecture section is the tree of src/: one line per folder that holds files, each folder that
// exists and no other. A folder added, moved or removed fails here until the README says so.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

/** Every folder under src/, as `src/a/b`, and whether it holds files of its own (not only folders). */
function folders(dir = join(ROOT, 'src')): Array<{ path: string; files: boolean }> {
  const entries = readdirSync(dir, { withFileTypes: true });
  const below = entries.filter((e) => e.isDirectory()).flatMap((e) => folders(join(dir, e.name)));
  return [{ path: relative(ROOT, dir), files: entries.some((e) => e.isFile()) }, ...below];
}

/** The first column of each line of the Architecture section's text block. */
function listed(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('\n## Architecture\n');
  if (at < 0) throw new Error('README.md has no "## Architecture" section');
  const block = /```text\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error('README.md: the Architecture section has no text block');
  return block[1]!
    .trimEnd()
    .split('\n')
    .map((line) => line.split(/\s+/)[0]!);
}

describe("README's Architecture section", () => {
  it('lists every folder of src/ on a line of its own, and nothing else', () => {
    // `src` itself holds the entry points, which the section names in prose; `src/adapters` and `src/modes` hold
    // only folders.
    const tree = folders()
      .filter((f) => f.files && f.path !== 'src')
      .map((f) => f.path);
    const lines = listed();
    expect(new Set(lines).size, 'a folder listed twice').toBe(lines.length);
    expect([...lines].sort()).toEqual([...tree].sort());
  });

  it('names in its dependency rule only folders of src/', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const rule = /Dependencies point one way: ([^.]*)\./.exec(readme);
    if (!rule) throw new Error('README.md states no dependency rule ("Dependencies point one way: ...")');
    const names = [...rule[1]!.matchAll(/`([^`]+)`/g)].flatMap((m) => m[1]!.split(/\s*(?:<-|,)\s*/));
    expect(names.length).toBeGreaterThan(5);
    const tree = new Set(folders().map((f) => f.path));
    expect(names.filter((n) => !tree.has(join('src', n)))).toEqual([]);
  });
});
