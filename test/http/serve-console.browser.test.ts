/// <reference lib="dom" />
// The console as an operator meets it, in chromium against a real `lockstep serve`: the run list across all
// sequences with its search, filters and pages; one run's attempt bars, errors, logs and data; and the layout
// of both at 800 px wide.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageHarness } from './browser-harness.js';
import { ARTIFACTS, outsideViewport, pageHarness, TOKEN, until } from './browser-harness.js';

let h: PageHarness;
const QUICK_RUNS = 55;
let flaky: string;
let gated: string;

beforeAll(async () => {
  h = await pageHarness((machines, wait, gates) => {
    writeFileSync(
      join(machines, 'quick.yaml'),
      ['name: quick', 'version: 1', 'tasks:', '  - id: echo', `    run: echo '{"ok":1}'`, ''].join('\n'),
    );
    // Fails its first attempt with output on both streams, then succeeds after a backoff.
    const fetch = `if [ ! -f "${gates}/fetched" ]; then touch "${gates}/fetched"; echo trying; echo 'connection refused' >&2; exit 3; fi; echo '{"rows":42}'`;
    writeFileSync(
      join(machines, 'flaky.yaml'),
      [
        'name: flaky',
        'version: 1',
        'tasks:',
        '  - id: fetch',
        `    run: ${JSON.stringify(fetch)}`,
        '    retry: { maxAttempts: 2, backoff: { initial: 700ms } }',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(machines, 'gated.yaml'),
      ['name: gated', 'version: 1', 'tasks:', '  - id: wait', `    run: ${JSON.stringify(wait('gated'))}`, ''].join('\n'),
    );
  });
  flaky = (await h.api('/api/runs', { sequence: 'flaky', input: { source: 'db-1' } })).runId;
  await until(async () => (await h.api(`/api/runs/${flaky}`)).run.status === 'succeeded', 'the flaky run to succeed');
  for (let i = 0; i < QUICK_RUNS; i++) await h.api('/api/runs', { sequence: 'quick', input: { i } });
  await until(
    async () => (await h.api('/api/runs?sequence=quick&status=succeeded&limit=100')).runs.length === QUICK_RUNS,
    'every quick run to succeed',
    120_000,
  );
  gated = (await h.api('/api/runs', { sequence: 'gated' })).runId;
  await until(async () => (await h.api(`/api/runs/${gated}`)).run.currentTask === 'wait', 'the gated run to start its task');
}, 240_000);

afterAll(async () => {
  h?.open('gated');
  await h?.close();
}, 30_000);

const rows = (page: Page = h.page) => page.$$eval('#run-list li[data-run-id]', (lis) => lis.map((li) => li.getAttribute('data-run-id')));

describe('the console in chromium', () => {
  it('opens on the runs of every sequence, newest first, with date, duration, status and task, a page at a time', async () => {
    const { page } = h;
    await page.goto(`${h.base}/#token=${TOKEN}`);
    await page.waitForSelector('#run-list li[data-run-id]:nth-child(50)');
    expect(await page.isHidden('#detail-view')).toBe(true);
    const first = `#run-list li[data-run-id="${gated}"]`;
    expect((await rows())[0]).toBe(gated);
    expect(await page.textContent(`${first} .badge`)).toBe('running');
    expect(await page.textContent(`${first} .run-seq`)).toBe('gated');
    expect(await page.textContent(`${first} .run-task`)).toBe('wait');
    expect(await page.textContent(`${first} .run-started`)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(await page.textContent(`${first} .run-duration`)).toMatch(/^\d+(ms|\.\ds|m \d\ds)$/);
    expect(await page.textContent('#runs-count')).toBe('50+ shown');
    await page.screenshot({ path: join(ARTIFACTS, 'runs-list.png') });

    await page.click('#run-more');
    await page.waitForSelector(`#run-list li[data-run-id="${flaky}"]`);
    const all = await rows();
    expect(all).toHaveLength(QUICK_RUNS + 2);
    expect(new Set(all).size).toBe(all.length);
    expect(all.at(-1)).toBe(flaky);
    expect(await page.isHidden('#run-more')).toBe(true);
    expect(await page.textContent(`#run-list li[data-run-id="${flaky}"] .run-seq`)).toBe('flaky');
  });

  it('finds a run by an id prefix, and filters by sequence, status and start time', async () => {
    const { page } = h;
    await page.fill('#run-search', flaky.slice(0, 6));
    await page.waitForFunction((id) => {
      const lis = Array.from(document.querySelectorAll('#run-list li[data-run-id]'));
      return lis.length === 1 && lis[0]?.getAttribute('data-run-id') === id;
    }, flaky);
    await page.screenshot({ path: join(ARTIFACTS, 'search.png') });
    await page.press('#run-search', 'Enter');
    await page.waitForSelector('#run-status[data-kind="succeeded"]');
    expect(await page.textContent('#view-title')).toBe(`flaky · run ${flaky.slice(0, 8)}`);
    // The browser's Back returns to the list, filtered as it was.
    await page.goBack();
    await page.waitForSelector('#runs-view:not([hidden])');
    expect(await rows()).toEqual([flaky]);
    await page.goForward();
    await page.waitForSelector('#detail-view:not([hidden]) #run-status[data-kind="succeeded"]');
    await page.click('#back-to-runs');
    await page.click('#run-filters-clear');
    await page.waitForSelector('#run-list li[data-run-id]:nth-child(50)');

    await page.selectOption('#run-sequence', 'gated');
    await page.waitForFunction(() => document.querySelectorAll('#run-list li[data-run-id]').length === 1);
    expect(await rows()).toEqual([gated]);
    await page.selectOption('#run-sequence', 'quick');
    await page.selectOption('#run-filter', 'running');
    await page.waitForSelector('#run-list-empty:not([hidden])');
    expect(await page.textContent('#run-list-empty')).toBe('No runs match these filters.');
    await page.selectOption('#run-sequence', '');
    await page.waitForFunction(() => document.querySelectorAll('#run-list li[data-run-id]').length === 1);
    expect(await rows()).toEqual([gated]);

    // Started after an hour from now: none; before it: all of them again.
    await page.click('#run-filters-clear');
    const later = new Date(Date.now() + 3_600_000 - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await page.fill('#run-since', later);
    await page.dispatchEvent('#run-since', 'change');
    await page.waitForSelector('#run-list-empty:not([hidden])');
    await page.fill('#run-since', '');
    await page.fill('#run-until', later);
    await page.dispatchEvent('#run-until', 'change');
    await page.waitForSelector('#run-list li[data-run-id]:nth-child(50)');
    expect((await rows())[0]).toBe(gated);
    await page.click('#run-filters-clear');
  });

  it('shows a run: attempts as bars with the backoff, the error with its output, the log pane, input, results and definition', async () => {
    const { page } = h;
    await page.goto(`${h.base}/#run=${flaky}`);
    await page.waitForSelector('#bars li.bar-row:nth-child(2)');
    const bars = await page.$$eval('#bars li.bar-row', (lis) =>
      lis.map((li) => ({
        label: li.querySelector('.bar-label')!.textContent,
        outcome: li.getAttribute('data-outcome'),
        text: li.textContent,
      })),
    );
    expect(bars.map((b) => [b.label, b.outcome])).toEqual([
      ['fetch #1', 'failed'],
      ['fetch #2', 'succeeded'],
    ]);
    expect(bars[0]!.text).toMatch(/\+\d+(ms|\.\ds) backoff$/);
    // On one time axis: the backoff starts where attempt 1 ends, and attempt 2 starts after it.
    const box = async (sel: string) => (await page.locator(sel).boundingBox())!;
    const one = await box('#bars li.bar-row:nth-child(1) .bar:not(.backoff)');
    const backoff = await box('#bars li.bar-row:nth-child(1) .bar.backoff');
    const two = await box('#bars li.bar-row:nth-child(2) .bar');
    expect(backoff.x).toBeGreaterThanOrEqual(one.x + one.width - 2);
    expect(two.x).toBeGreaterThanOrEqual(backoff.x + backoff.width - 2);

    await page.click('#bars li.bar-row:nth-child(1)');
    await page.waitForSelector('#attempt-pane:not([hidden])');
    expect(await page.textContent('#attempt-title')).toMatch(/^fetch #1 · failed · \d/);
    expect(await page.textContent('#attempt-error .error-message')).toContain('exit');
    expect(await page.textContent('#attempt-error .failure-output')).toContain('connection refused');
    // The log pane: the attempt's lines where logs are recorded, else it says none were.
    await page.waitForSelector('#attempt-log :is(.no-logs, .log-lines)');
    const log = await page.textContent('#attempt-log');
    if (!log!.includes('no logs recorded')) expect(log).toContain('connection refused');
    // Rerun from the picked attempt's task: the preview opens from there.
    expect(await page.textContent('#attempt-rerun')).toBe('Rerun from fetch…');
    await page.click('#attempt-rerun');
    await page.waitForSelector('#rerun-confirm:has-text("Rerun from fetch")');
    expect(await page.textContent('#rerun-plan')).toContain('Run againfetch (the rerun starts here)');
    await page.click('#rerun-close');

    expect(JSON.parse((await page.textContent('#tab-input'))!)).toEqual({ source: 'db-1' });
    await page.click('.tab[data-tab="results"]');
    expect(await page.textContent('#tab-results .result[data-task="fetch"]')).toBe('fetch · attempt 2{\n  "rows": 42\n}');
    await page.click('.tab[data-tab="definition"]');
    await page.waitForFunction(() => document.getElementById('tab-definition')!.textContent!.startsWith('name: flaky'));
    expect(await page.textContent('#tab-definition')).toBe(readFileSync(join(h.machines, 'flaky.yaml'), 'utf8'));
    // The events tab: the failed entry carries the output next to its error.
    await page.click('.tab[data-tab="events"]');
    expect(await page.textContent('#timeline li[data-type="task.failed"] .failure-output')).toContain('connection refused');
    await page.click('.tab[data-tab="results"]');
    await page.screenshot({ path: join(ARTIFACTS, 'run-detail-timeline.png') });
  });

  it('fits 800 px: nothing of the list or of a run is pushed off screen', async () => {
    const { page } = h;
    await page.setViewportSize({ width: 800, height: 900 });
    await page.goto(`${h.base}/`);
    await page.waitForSelector('#run-list li[data-run-id]:nth-child(50)');
    const controls = 'button, input, select, .run-row > span, .badge, h1, h2';
    expect(await outsideViewport(page, controls)).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
    await page.screenshot({ path: join(ARTIFACTS, 'layout-800-list.png') });

    await page.click(`#run-list li[data-run-id="${gated}"]`);
    await page.waitForSelector('#run-status[data-kind="running"]');
    await page.waitForSelector('#graph svg');
    await page.click('#cancel-run');
    await page.waitForSelector('#confirm-panel:not([hidden])');
    expect(await outsideViewport(page, `${controls}, #graph, .bar-row, #confirm-panel`)).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
    for (const id of ['cancel-run', 'resume-run', 'rerun-open', 'confirm-go']) expect(await page.isVisible(`#${id}`)).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'layout-800.png') });
    await page.click('#confirm-close');
    await page.setViewportSize({ width: 1440, height: 960 });
  });

  it('loaded nothing from any other origin and raised no script error', () => {
    expect(h.external).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
