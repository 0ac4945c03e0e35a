import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes a sequence of `n` shell tasks and one finally task to `dir` and returns its path. */
export function writeScaleSequence(dir: string, n: number, name = 'scale'): string {
  const file = join(dir, `${name}-${n}.yaml`);
  const tasks = Array.from({ length: n }, (_, i) => `  - id: step-${i}\n    run: echo step ${i}`);
  writeFileSync(
    file,
    [`name: ${name}`, 'version: 1', 'tasks:', ...tasks, 'finally:', '  - id: cleanup', '    run: echo cleanup', ''].join('\n'),
  );
  return file;
}
