// `lockstep serve` as a real process with the bad files of api-bad-input.test.ts in `--machines`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BAD_FILES, deep, json } from './bad-input.js';
import { TOKEN, writeMachines } from './serve-harness.js';
import { spawnServe } from './serve-process.js';

type Json = Record<string, any>;
const auth = { authorization: `Bearer ${TOKEN}` };

describe('lockstep serve --machines dir with bad files (real process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-serve-bad-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts, logs each bad file, serves the good ones and refuses a too-deep input with 400', async () => {
    const machines = join(dir, 'machines');
    const gates = join(dir, 'gates');
    mkdirSync(machines);
    mkdirSync(gates);
    writeMachines(machines, gates);
    for (const [name, text] of Object.entries(BAD_FILES)) writeFileSync(join(machines, name), text);
    const serve = await spawnServe(['--machines', machines, '--store', join(dir, 'store.db')], {
      cwd: dir,
      env: { LOCKSTEP_TOKEN: TOKEN },
    });
    try {
      expect(serve.output()).toContain('2 sequences');
      expect(serve.output()).toContain('5 invalid files skipped');
      for (const name of [...Object.keys(BAD_FILES), 'broken.yaml'])
        expect(serve.output()).toContain(`lockstep serve: skipping ${join(machines, name)}: invalid`);
      expect(serve.output()).not.toMatch(/\n\s+at /);
      const list = (await (await fetch(`${serve.base}/api/sequences`)).json()) as Json;
      expect(list.invalid).toHaveLength(5);
      const start = (input: unknown) =>
        fetch(`${serve.base}/api/runs`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: json({ sequence: 'remote', input }),
        });
      const refused = await start(deep(20_000));
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as Json).error.message).toContain('nesting deeper than 64 levels');
      const accepted = await start({ n: 1 });
      expect(accepted.status).toBe(201);
      const { runId } = (await accepted.json()) as Json;
      expect((await fetch(`${serve.base}/api/runs/${runId}`)).status).toBe(200);
    } finally {
      await serve.stop();
    }
    expect(serve.child.exitCode).toBe(0);
  });
});
