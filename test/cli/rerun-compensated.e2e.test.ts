// A rerun never reuses the result of a task whose compensation ran: machines/compensation.yaml, through the real CLI.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonLines, lockstep } from '../support/cli.js';

/** The temp directories this file makes are all in this one, removed once its tests are done. */
const scratch = mkdtempSync(join(tmpdir(), 'lockstep-rerun-compensated-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const temp = (prefix: string) => mkdtempSync(join(scratch, `${prefix}-`));
const runIdOf = (stdout: string) => jsonLines(stdout)[0]?.runId as string;

describe('rerun after compensation', () => {
  it('machines/compensation.yaml: create-order and reserve-stock run again, and the preview says why', async () => {
    const store = join(temp('rerun-comp'), 'runs.db');
    const first = await lockstep(['run', 'machines/compensation.yaml', '--json', '--store', store]);
    expect(first.code).toBe(1);
    const runId = runIdOf(first.stdout);
    expect(
      jsonLines(first.stdout)
        .filter((e) => e.type === 'task.succeeded')
        .map((e) => e.task),
    ).toEqual(['create-order', 'reserve-stock', 'reserve-stock.compensate', 'create-order.compensate', 'audit']);

    // The preview: nothing starts, and each task says what happens to it and why.
    const preview = await lockstep(['rerun', runId, '--definition', 'current', '--from', 'charge', '--dry-run', '--store', store]);
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain(
      `↺ rerun of ${runId} from "create-order" (asked: "charge"): reusing nothing; running create-order, reserve-stock, charge, ship`,
    );
    expect(preview.stdout).toContain(`  create-order: runs again (its compensation ran in run ${runId})`);
    expect(preview.stdout).toContain(`  reserve-stock: runs again (its compensation ran in run ${runId})`);
    expect(preview.stdout).toContain(`  charge: runs again (failed in run ${runId})`);
    expect(preview.stdout).toContain('(dry run: nothing was started)');
    expect(jsonLines((await lockstep(['runs', '--json', '--store', store])).stdout)).toHaveLength(1);
    const plan = JSON.parse((await lockstep(['rerun', runId, '--dry-run', '--json', '--store', store])).stdout) as Record<string, unknown>;
    expect(plan).toMatchObject({ from: 'create-order', reused: [], rerun: ['create-order', 'reserve-stock', 'charge', 'ship'] });
    expect(plan.steps).toContainEqual({ taskId: 'create-order', action: 'runs', reason: `its compensation ran in run ${runId}` });

    // The rerun itself: create-order runs again instead of its cancelled order being reused.
    const rerun = await lockstep(['rerun', runId, '--definition', 'current', '--json', '--store', store]);
    expect(rerun.code).toBe(1);
    expect(rerun.stderr).toContain(`lockstep: note: create-order runs again (its compensation ran in run ${runId})`);
    const lines = jsonLines(rerun.stdout);
    expect(lines[0]).toMatchObject({ type: 'run.started', rerunOf: runId });
    expect(lines[0]!.reused ?? []).toEqual([]);
    expect(
      lines
        .filter((e) => e.type === 'task.started')
        .map((e) => e.task)
        .slice(0, 3),
    ).toEqual(['create-order', 'reserve-stock', 'charge']);
  });

  it('a later task runs against the new result, not the one whose compensation undid it', async () => {
    const dir = temp('rerun-comp-fresh');
    const store = join(dir, 'runs.db');
    const file = join(dir, 'orders.yaml');
    const flag = join(dir, 'decline');
    const log = join(dir, 'log');
    writeFileSync(
      file,
      [
        'name: orders',
        'tasks:',
        '  - id: create-order',
        `    run: echo "{\\"orderId\\":\\"$LOCKSTEP_RUN_ID\\"}"`,
        '    compensate:',
        `      run: echo "cancel $LOCKSTEP_RESULT_CREATE_ORDER" >> ${log}; exit 1`,
        '  - id: charge',
        `    run: echo "charge $LOCKSTEP_RESULT_CREATE_ORDER" >> ${log}; test ! -e ${flag}`,
        '',
      ].join('\n'),
    );
    writeFileSync(flag, '');
    const first = await lockstep(['run', file, '--json', '--store', store]);
    expect(first.code).toBe(1);
    const firstId = runIdOf(first.stdout);
    rmSync(flag);
    // Its compensation failed, but it ran: the order may be cancelled, so it is not reused.
    expect(readFileSync(log, 'utf8')).toContain(`cancel {"orderId":"${firstId}"}`);
    const rerun = await lockstep(['rerun', firstId, '--json', '--store', store]);
    expect(rerun.code, rerun.stderr).toBe(0);
    const secondId = runIdOf(rerun.stdout);
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean).at(-1)).toBe(`charge {"orderId":"${secondId}"}`);
  });
});
