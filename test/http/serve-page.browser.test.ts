/// <reference lib="dom" />
// The page of `lockstep serve` in Debian's headless chromium (driven by playwright-core, never a downloaded
// browser), against a real `lockstep serve` process with real runs in progress. Gate files decide when each
// shell task ends, so the test sees every state it waits for.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines } from '../support/cli.js';
import { sleep, spawnCli } from '../support/crash-sequence.js';
import type { PageHarness } from './browser-harness.js';
import { ARTIFACTS, pageHarness, TOKEN } from './browser-harness.js';

let h: PageHarness;
let page: Page;
let dir: string;
let gates: string;
let base: string;
const open = (gate: string) => h.open(gate);
const api = (path: string, body?: unknown) => h.api(path, body);
const node = (id: string, ...classes: string[]) => `#graph g[id="${id}"]${classes.map((c) => `.${c}`).join('')}`;

function writeDeploy(machines: string, wait: (gate: string) => string, gates: string): void {
  writeFileSync(
    join(machines, 'deploy.yaml'),
    [
      'name: deploy',
      'version: 1',
      'description: Prepare, build and publish; undo the preparation if publishing fails.',
      'tasks:',
      '  - id: prepare',
      `    run: ${JSON.stringify(`${wait('prepare')}; echo '{"workspace":"w1"}'`)}`,
      '    compensate:',
      `      run: ${JSON.stringify(`${wait('undo-prepare')}; echo undone`)}`,
      '  - id: build',
      `    run: ${JSON.stringify(`${wait('build')}; echo '{"artifact":"app.tgz"}'`)}`,
      '  - id: publish',
      `    run: ${JSON.stringify(`${wait('publish')}; test ! -f "${gates}/fail-publish"`)}`,
      'finally:',
      '  - id: cleanup',
      `    run: ${JSON.stringify(`${wait('cleanup')}; echo cleaned`)}`,
      '',
    ].join('\n'),
  );
}

/** One task that waits for the `hold` gate, after writing its shell's pid (its process group) to `hold.pid`. */
function writeHold(machines: string, gates: string): void {
  writeFileSync(
    join(machines, 'hold.yaml'),
    [
      'name: hold',
      'version: 1',
      'tasks:',
      '  - id: wait',
      `    run: ${JSON.stringify(`echo $$ > "${gates}/hold.pid"; while [ ! -f "${gates}/hold" ]; do sleep 0.02; done; echo '{"held":true}'`)}`,
      '',
    ].join('\n'),
  );
}

beforeAll(async () => {
  h = await pageHarness((machines, wait, g) => {
    writeDeploy(machines, wait, g);
    writeHold(machines, g);
    writeFileSync(
      join(machines, 'slow.yaml'),
      ['name: slow', 'version: 1', 'tasks:', '  - id: wait', `    run: ${JSON.stringify(wait('slow'))}`, ''].join('\n'),
    );
  });
  ({ page, dir, gates, base } = h);
}, 120_000);

afterAll(async () => {
  await h?.close();
}, 30_000);

describe('the serve page in chromium', () => {
  it('highlights the current task live, then the next, then the final state; reruns from a step', async () => {
    const { runId } = await api('/api/runs', { sequence: 'deploy', input: { release: 7 } });
    expect(runId).toEqual(expect.any(String));

    // The page opens on the run list; the run's events are one of its tabs. The machine view: this test follows
    // XState's states (serve-tasks.browser.test.ts covers the task view).
    await page.goto(`${base}/?graph=machine#token=${TOKEN}`);
    await page.click(`#run-list li[data-run-id="${runId}"]`);
    await page.click('.tab[data-tab="events"]');

    // The first task runs.
    await page.waitForSelector(node('main.prepare.running', 'ls-current', 'k-running'));
    expect(await page.getAttribute('#current-state', 'data-node')).toBe('main.prepare.running');
    expect(await page.textContent('#run-status')).toBe('running');
    expect(await page.isEnabled('#cancel-run')).toBe(true);
    expect(await page.isDisabled('#rerun-open')).toBe(true);

    // The next one: prepare is done, build is current.
    open('prepare');
    await page.waitForSelector(node('main.build.running', 'ls-current', 'k-running'));
    await page.waitForSelector(node('main.prepare.running', 'ls-done'));
    expect(await page.$$eval('#graph g.ls-current', (gs) => gs.map((g) => g.id))).toEqual(['main.build.running']);
    await page.waitForSelector('#timeline li[data-type="task.started"]:nth-child(4)');
    await page.screenshot({ path: join(ARTIFACTS, 'serve-page-running.png') });

    open('build');
    open('publish');
    await page.waitForSelector(node('finalizing.cleanup.running', 'ls-current', 'k-cleaning-up'));
    expect(await page.textContent('#run-status')).toBe('cleaning up');

    // The final state.
    open('cleanup');
    await page.waitForSelector(node('succeeded', 'ls-current', 'k-succeeded'));
    await page.waitForSelector('#run-status[data-kind="succeeded"]');
    expect(await page.$$eval('#graph g.ls-done', (gs) => gs.map((g) => g.id).sort())).toEqual([
      'finalizing.cleanup.running',
      'main.build.running',
      'main.prepare.running',
      'main.publish.running',
    ]);
    const timeline = await page.$$eval('#timeline li', (lis) => lis.map((li) => li.getAttribute('data-type')));
    expect(timeline).toEqual([
      'run.started',
      'task.started',
      'task.succeeded',
      'task.started',
      'task.succeeded',
      'task.started',
      'task.succeeded',
      'task.started',
      'task.succeeded',
      'run.succeeded',
    ]);
    expect(await page.isDisabled('#cancel-run')).toBe(true);

    // Rerun from build: the preview names what runs again and what would fire, before anything happens.
    await page.click('#rerun-open');
    await page.selectOption('#rerun-from', 'build');
    await page.waitForSelector('#rerun-confirm:has-text("Rerun from build")');
    const plan = await page.textContent('#rerun-plan');
    expect(plan).toContain('Reused (not run again)prepare');
    expect(plan).toContain(`Reused (not run again)prepare (succeeded in run ${runId})`);
    expect(plan).toContain('Run againbuild (the rerun starts here)publish (comes after build, which runs again)');
    expect(plan).toContain('prepare.compensate (of a reused task)');
    expect(plan).toContain('Cleanups (finally, always run)cleanup');
    expect((await api('/api/runs?sequence=deploy')).runs).toHaveLength(1);
    await page.screenshot({ path: join(ARTIFACTS, 'rerun-preview.png') });

    await page.click('#rerun-confirm');
    await page.waitForFunction((id) => location.hash.startsWith('#run=') && location.hash !== `#run=${id}`, runId);
    const rerun = (await api('/api/runs?sequence=deploy')).runs.find((r: { rerunOf?: string }) => r.rerunOf === runId);
    expect(rerun).toBeDefined();
    expect(await page.evaluate(() => location.hash)).toBe(`#run=${rerun.runId}`);
    // Its gates are open already, so it runs to the end: prepare reused, build and publish run again.
    await page.waitForSelector(node('succeeded', 'ls-current', 'k-succeeded'));
    await page.waitForSelector('#timeline li[data-type="run.succeeded"]');
    expect(await page.textContent('#timeline li[data-type="run.started"]')).toContain('reusing prepare');
    expect(await page.$$eval('#bars li.bar-row', (lis) => lis.map((li) => li.getAttribute('data-outcome')))).toEqual([
      'reused',
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
    await page.screenshot({ path: join(ARTIFACTS, 'serve-page.png') });
    await page.click('#back-to-runs');
    await page.waitForSelector(`#run-list li.selected[data-run-id="${rerun.runId}"]`);
    expect(await page.textContent(`#run-list li[data-run-id="${rerun.runId}"]`)).toContain(`rerun of ${runId.slice(0, 8)}`);
  });

  it('shows a failing run compensating, then failed, after starting it from the page', async () => {
    open('fail-publish');
    await page.click('#sequence-list li[data-sequence="deploy"]');
    await page.click('#start-run');
    await page.waitForSelector(node('compensating.prepare.running', 'ls-current', 'k-compensating'));
    await page.waitForSelector(node('main.publish.running', 'ls-failed'));
    expect(await page.textContent('#run-status')).toBe('compensating');
    await page.screenshot({ path: join(ARTIFACTS, 'serve-page-compensating.png') });
    open('undo-prepare');
    await page.waitForSelector(node('failed', 'ls-current', 'k-failed'));
    await page.waitForSelector('#run-status[data-kind="failed"]');
    expect(await page.textContent('#current-state')).toContain('task publish failed');
    expect((await api('/api/runs?sequence=deploy')).runs).toHaveLength(3);
    // Every attempt is a bar, the compensation and the finally task included; the failed one shows its error.
    await page.waitForFunction(() => document.querySelectorAll('#bars li.bar-row').length === 5);
    const bars = await page.$$eval('#bars li.bar-row', (lis) =>
      lis.map((li) => [li.querySelector('.bar-label')!.textContent, li.getAttribute('data-outcome')]),
    );
    expect(bars).toEqual([
      ['prepare #1', 'succeeded'],
      ['build #1', 'succeeded'],
      ['publish #1', 'failed'],
      ['prepare.compensate (compensation) #1', 'succeeded'],
      ['cleanup (finally) #1', 'succeeded'],
    ]);
    await page.click('#bars li.bar-row[data-task="publish"]');
    expect(await page.textContent('#attempt-error .error-message')).toContain('command exited with code 1');
  });

  it('previews a rerun of the compensated run: prepare runs again, since its compensation ran', async () => {
    const failed = (await api('/api/runs?sequence=deploy&status=failed')).runs[0] as { runId: string };
    await page.click('#nav-runs');
    await page.click(`#run-list li[data-run-id="${failed.runId}"]`);
    await page.waitForSelector('#run-status[data-kind="failed"]');
    await page.click('#rerun-open');
    await page.waitForSelector('#rerun-confirm:has-text("Rerun from prepare")');
    await page.selectOption('#rerun-from', 'publish');
    await page.waitForSelector('#rerun-moved');
    expect(await page.textContent('#rerun-moved')).toBe(
      'Starts at prepare, not publish: a task before publish was undone by its compensation in that run, so it runs again.',
    );
    const plan = await page.textContent('#rerun-plan');
    expect(plan).toContain('Reused (not run again)none');
    expect(plan).toContain(
      `Run againprepare (its compensation ran in run ${failed.runId})build (comes after prepare, which runs again)publish (failed in run ${failed.runId})`,
    );
    expect(await page.textContent('#rerun-confirm')).toBe('Rerun from prepare');
    await page.click('#rerun-close');
  });

  it('shows a SIGKILLed run as interrupted, finds it with the filter, and resumes it with the Resume button', async () => {
    // A `lockstep run` of the served file, on the server's store, killed while its task waits for its gate.
    const run = spawnCli(['run', join(dir, 'machines', 'hold.yaml'), '--json', '--store', join(dir, '.lockstep', 'lockstep.db')], {}, dir);
    while (!existsSync(join(gates, 'hold.pid'))) await sleep(10);
    run.child.kill('SIGKILL');
    const killed = await run.done;
    process.kill(-Number(readFileSync(join(gates, 'hold.pid'), 'utf8').trim()), 'SIGKILL');
    const runId = jsonLines(killed.stdout)[0]!.runId as string;

    await page.click('#nav-runs');
    await page.selectOption('#run-sequence', 'hold');
    await page.selectOption('#run-filter', 'interrupted');
    await page.waitForSelector(`#run-list li[data-run-id="${runId}"][data-status="interrupted"]`);
    expect(await page.$$eval('#run-list li', (lis) => lis.map((li) => li.getAttribute('data-status')))).toEqual(['interrupted']);
    expect(await page.textContent(`#run-list li[data-run-id="${runId}"] .badge`)).toBe('interrupted');
    await page.click(`#run-list li[data-run-id="${runId}"]`);
    await page.waitForSelector('#run-status[data-kind="interrupted"]');
    expect(await page.textContent('#current-state')).toContain(
      'wait — running (attempt 1) · interrupted: no live process drives it (Resume continues it)',
    );
    expect(await page.isEnabled('#resume-run')).toBe(true);
    expect(await page.isDisabled('#cancel-run')).toBe(true);
    expect(await page.isDisabled('#rerun-open')).toBe(true);
    // Its clock stopped with its process: the attempt's bar ends at the last entry, lost, and does not grow.
    expect(await page.getAttribute('#bars li.bar-row[data-task="wait"]', 'data-outcome')).toBe('lost');
    const shownFor = await page.textContent('#run-when');
    await page.waitForTimeout(1_200);
    expect(await page.textContent('#run-when')).toBe(shownFor);
    await page.screenshot({ path: join(ARTIFACTS, 'serve-page-interrupted.png') });

    // Resume shows what it will do first; nothing happens until it is confirmed.
    open('hold');
    await page.click('#resume-run');
    await page.waitForSelector('#confirm-panel[data-action="resume"]:not([hidden])');
    expect(await page.textContent('#confirm-text')).toBe(
      `Resume run ${runId.slice(0, 8)} in this process: its process died, so the interrupted attempt is stopped if anything of it is left, and wait runs again as attempt 2.`,
    );
    expect((await api(`/api/runs/${runId}`)).run.status).toBe('interrupted');
    await page.screenshot({ path: join(ARTIFACTS, 'resume.png') });
    await page.click('#confirm-go');
    await page.waitForSelector('#run-status[data-kind="succeeded"]');
    await page.waitForSelector('#timeline li[data-type="task.interrupted"]', { state: 'attached' });
    expect(await page.isDisabled('#resume-run')).toBe(true);
    await page.click('#nav-runs');
    await page.selectOption('#run-filter', 'succeeded');
    await page.waitForSelector(`#run-list li[data-run-id="${runId}"][data-status="succeeded"]`);
    const shown = await api(`/api/runs/${runId}`);
    expect(shown.run.status).toBe('succeeded');
    expect(shown.history.filter((e: { type: string }) => e.type === 'task.started').map((e: { attempt: number }) => e.attempt)).toEqual([
      1, 2,
    ]);
  });

  it('cancels a running run from the page after its preview', async () => {
    const { runId } = await api('/api/runs', { sequence: 'slow' });
    await page.goto(`${base}/#run=${runId}`);
    await page.waitForSelector('#run-status[data-kind="running"]');
    await page.waitForFunction(() => document.getElementById('current-state')!.textContent!.includes('wait — running'));
    await page.click('#cancel-run');
    await page.waitForSelector('#confirm-panel[data-action="cancel"]:not([hidden])');
    expect(await page.textContent('#confirm-text')).toBe(
      `Cancel run ${runId.slice(0, 8)}: the attempt of wait in flight stops; no compensation is owed; no finally task runs.`,
    );
    await page.click('#confirm-go');
    await page.waitForSelector('#run-status[data-kind="cancelled"]');
    await page.waitForSelector('#confirm-panel', { state: 'hidden' });
    expect((await api(`/api/runs/${runId}`)).run.status).toBe('cancelled');
  });

  it('loaded nothing from any other origin and raised no script error', () => {
    expect(h.external).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
