/// <reference lib="dom" />
// The task view of the `lockstep serve` page in Debian's headless chromium (playwright-core, never a downloaded
// browser), against a real `lockstep serve` process: each task's node coloured live by its status, the toggle to
// the machine view and back, and a 50-task sequence whose labels stay readable at the page's default size.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageHarness } from './browser-harness.js';
import { ARTIFACTS, pageHarness, TOKEN } from './browser-harness.js';

let h: PageHarness;

const task = (id: string, status?: string) => `#graph g[id="task:${id}"]${status ? `[data-status="${status}"]` : ''}`;

/**
 * Five tasks: `reserve` and `charge` have compensations; `charge` fails its first attempt and retries after 2 s;
 * `ship` fails when the `fail-ship` gate exists; `email` never runs then. `audit` always runs. Gates decide when
 * each task ends.
 */
function writeSaga(machines: string, wait: (gate: string) => string, gates: string): void {
  const shell = (text: string, indent = 4) => `${' '.repeat(indent)}run: ${JSON.stringify(text)}`;
  writeFileSync(
    join(machines, 'saga.yaml'),
    [
      'name: saga',
      'version: 1',
      'tasks:',
      '  - id: reserve',
      shell(`${wait('reserve')}; echo reserved`),
      '    compensate:',
      shell('echo released', 6),
      '  - id: charge',
      shell(`if [ ! -f "${gates}/charged-once" ]; then touch "${gates}/charged-once"; exit 1; fi; ${wait('charge')}; echo charged`),
      '    retry: { maxAttempts: 2, backoff: { initial: 2s } }',
      '    compensate:',
      shell(`${wait('refund')}; echo refunded`, 6),
      '  - id: pack',
      shell('echo packed'),
      '  - id: ship',
      shell(`${wait('ship')}; test ! -f "${gates}/fail-ship"`),
      '  - id: email',
      shell('echo sent'),
      'finally:',
      '  - id: audit',
      shell('echo audited'),
      '',
    ].join('\n'),
  );
}

/** Fifty tasks, two with compensations, one that continues on failure, and a finally task. */
function writeFifty(machines: string): void {
  const lines = ['name: fifty', 'version: 1', 'tasks:'];
  for (let i = 1; i <= 50; i++) {
    lines.push(`  - id: step-${String(i).padStart(2, '0')}`, '    run: "true"');
    if (i === 10 || i === 40) lines.push('    compensate: { run: "true" }');
    if (i === 20) lines.push('    onFailure: continue');
  }
  lines.push('finally:', '  - { id: cleanup, run: "true" }', '');
  writeFileSync(join(machines, 'fifty.yaml'), lines.join('\n'));
}

beforeAll(async () => {
  h = await pageHarness((machines, wait, gates) => {
    writeSaga(machines, wait, gates);
    writeFifty(machines);
  });
}, 60_000);

afterAll(async () => {
  await h?.close();
}, 30_000);

/** Status and attempt text of every task node, by task id. */
async function taskStatuses(): Promise<Record<string, string>> {
  return h.page.$$eval('#graph g.node[id^="task:"]', (gs) =>
    Object.fromEntries(
      gs.map((g) => [
        g.id.slice(5),
        `${g.getAttribute('data-status')}${g.querySelector('text.graph-attempts') ? ` (${g.querySelector('text.graph-attempts')!.textContent})` : ''}`,
      ]),
    ),
  );
}

/** Each label of the graph's nodes (and clusters) as a rectangle on the page, with its text. */
async function labelBoxes(selector: string): Promise<Array<{ text: string; x: number; y: number; w: number; h: number }>> {
  return h.page.$$eval(selector, (texts) =>
    texts.map((t) => {
      const r = t.getBoundingClientRect();
      return { text: t.textContent ?? '', x: r.x, y: r.y, w: r.width, h: r.height };
    }),
  );
}

/** Labels smaller than `minPx` and pairs of labels that overlap (by more than half a pixel). */
function unreadable(boxes: Array<{ text: string; x: number; y: number; w: number; h: number }>, minPx: number) {
  const small = boxes.filter((b) => b.h < minPx).map((b) => `${b.text}: ${b.h.toFixed(1)} px`);
  const overlapping: string[] = [];
  boxes.forEach((a, i) => {
    for (const b of boxes.slice(i + 1)) {
      const dx = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
      const dy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
      if (dx > 0.5 && dy > 0.5) overlapping.push(`${a.text} / ${b.text}`);
    }
  });
  return { small, overlapping };
}

describe('the task view of the serve page', () => {
  it('colours each task by its status live, with attempt counts, through a retry, a failure and the compensations', async () => {
    h.open('fail-ship');
    const { runId } = await h.api('/api/runs', { sequence: 'saga' });

    // The page opens on the runs of every sequence; the run's row opens its task view.
    await h.page.goto(`${h.base}/#token=${TOKEN}`);
    await h.page.click(`#run-list li[data-run-id="${runId}"]`);
    expect(await h.page.textContent('#graph-view')).toBe('Machine view');

    await h.page.waitForSelector(task('reserve', 'running'));
    expect(await taskStatuses()).toEqual({
      reserve: 'running (attempt 1)',
      'reserve.compensate': 'pending',
      charge: 'pending',
      'charge.compensate': 'pending',
      pack: 'pending',
      ship: 'pending',
      email: 'pending',
      audit: 'pending',
    });

    h.open('reserve');
    await h.page.waitForSelector(task('charge', 'retrying'));
    expect((await taskStatuses()).charge).toBe('retrying (attempt 1)');
    await h.page.waitForSelector(`${task('charge', 'running')} text.graph-attempts:text("attempt 2")`);
    expect(await taskStatuses()).toMatchObject({ reserve: 'succeeded', charge: 'running (attempt 2)', pack: 'pending' });
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-tasks-running.png') });

    h.open('charge');
    await h.page.waitForSelector(task('ship', 'running'));
    h.open('ship');
    await h.page.waitForSelector(task('charge.compensate', 'running'));
    expect(await taskStatuses()).toMatchObject({ pack: 'succeeded', ship: 'failed', email: 'pending', charge: 'succeeded (2 attempts)' });
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-tasks-compensating.png') });

    h.open('refund');
    await h.page.waitForSelector('#run-status[data-kind="failed"]');
    await h.page.waitForSelector('#graph g[id="end:failed"].graph-end');
    expect(await taskStatuses()).toEqual({
      reserve: 'compensated',
      'reserve.compensate': 'succeeded',
      charge: 'compensated (2 attempts)',
      'charge.compensate': 'succeeded',
      pack: 'succeeded',
      ship: 'failed',
      email: 'skipped',
      audit: 'succeeded',
    });
    // Different statuses look different: the node's shape is filled by its status.
    // (The test's TypeScript has no DOM library: the browser's getComputedStyle is reached through globalThis.)
    const fills = await h.page.$$eval('#graph g.node[id^="task:"] path', (paths) => {
      const style = globalThis as unknown as { getComputedStyle(e: unknown): { fill: string } };
      return [...new Set(paths.map((p) => style.getComputedStyle(p).fill))];
    });
    expect(fills.length).toBe(4); // compensated, succeeded, failed, skipped
  }, 90_000);

  it('switches to the machine view and its state highlighting, and back', async () => {
    await h.page.click('#graph-view');
    await h.page.waitForSelector('#graph g[id="failed"].ls-current.k-failed');
    await h.page.waitForSelector('#graph g[id="main.ship.running"].ls-failed');
    expect(await h.page.textContent('#graph-view')).toBe('Task view');
    expect(await h.page.$$('#graph g[id^="task:"]')).toHaveLength(0);
    expect(await h.page.isHidden('.graph-legend')).toBe(true);

    await h.page.click('#graph-view');
    await h.page.waitForSelector(task('ship', 'failed'));
    expect(await h.page.$$('#graph g[id="main.ship.running"]')).toHaveLength(0);
    expect(await h.page.isVisible('.graph-legend')).toBe(true);
  });

  it('keeps every label of a 50-task sequence at least 10 px tall and apart, in both views', async () => {
    await h.page.click('#sequence-list li[data-sequence="fifty"]');
    await h.page.waitForSelector('#graph g[id="task:step-50"]');
    const tasks = await labelBoxes('#graph g.node text');
    expect(tasks.filter((b) => b.text.startsWith('step-'))).toHaveLength(52); // 50 tasks and 2 compensations
    expect(unreadable(tasks, 10)).toEqual({ small: [], overlapping: [] });
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-tasks-fifty.png') });

    await h.page.click('#graph-view');
    await h.page.waitForSelector('#graph g[id="main.step-50.running"]', { timeout: 90_000 });
    const states = await labelBoxes('#graph :is(g.node, g.cluster) > text, #graph :is(g.node, g.cluster) > g > a > text');
    expect(states.filter((b) => /^step-\d\d$/.test(b.text))).toHaveLength(50);
    expect(unreadable(states, 10)).toEqual({ small: [], overlapping: [] });
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-machine-fifty.png') });
    await h.page.click('#graph-view');
    await h.page.waitForSelector('#graph g[id="task:step-01"]');
  }, 150_000);

  it('raised no script error', () => {
    expect(h.pageErrors).toEqual([]);
  });
});
