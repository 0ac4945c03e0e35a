/// <reference lib="dom" />
// Waits on the `lockstep serve` page in Debian's headless chromium (playwright-core, never a downloaded browser),
// against a real `lockstep serve` process: a run waiting for approval shows "waiting for approve since T, expires
// T+48h" in the list and on its page, is approved there with JSON data, and a bad payload shows its problems by
// the data field: the page's own check first, then the server's.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageHarness } from './browser-harness.js';
import { ARTIFACTS, outsideViewport, pageHarness, TOKEN, until } from './browser-harness.js';

let h: PageHarness;

/** Build, wait for an approval (an approver, and a contact the server checks as an e-mail address), deploy. */
function writeApproval(machines: string): void {
  const schema = {
    type: 'object',
    required: ['approver'],
    properties: { approver: { type: 'string', minLength: 1 }, contact: { type: 'string', format: 'email' } },
    additionalProperties: false,
  };
  writeFileSync(
    join(machines, 'approval.yaml'),
    [
      'name: approval',
      'version: 1',
      'tasks:',
      '  - id: build',
      `    run: ${JSON.stringify(`echo '{"artifact":"app.tgz"}'`)}`,
      '  - id: approve',
      '    wait:',
      '      signal: true',
      `      schema: ${JSON.stringify(schema)}`,
      '    timeout: 48h',
      '  - id: deploy',
      '    run: echo deployed',
      '',
    ].join('\n'),
  );
}

/** A two-hour delay before a reminder. */
function writeRemind(machines: string): void {
  writeFileSync(
    join(machines, 'remind.yaml'),
    ['name: remind', 'version: 1', 'tasks:', '  - id: pause', '    wait: { duration: 2h }', '  - id: ping', '    run: echo ping', ''].join(
      '\n',
    ),
  );
}

beforeAll(async () => {
  h = await pageHarness((machines) => {
    writeApproval(machines);
    writeRemind(machines);
  });
}, 60_000);

afterAll(async () => {
  await h?.close();
}, 30_000);

type Json = Record<string, any>;
const waitingRun = async (): Promise<string> => {
  const { runId } = await h.api('/api/runs', { sequence: 'approval' });
  await until(async () => (await h.api(`/api/runs/${runId}`)).run?.status === 'waiting', `run ${runId} to wait`);
  return runId as string;
};
const problems = () => h.page.$$eval('#signal-problems li', (lis) => lis.map((li) => li.textContent ?? ''));

describe('waits on the serve page', () => {
  it('lists a waiting run with its wait, and approves it with data', async () => {
    const runId = await waitingRun();
    await h.page.goto(`${h.base}/#token=${TOKEN}`);
    const row = `#run-list li[data-run-id="${runId}"]`;
    await h.page.waitForSelector(`${row}[data-status="waiting"]`);
    expect(await h.page.textContent(`${row} .badge`)).toBe('waiting');
    expect(await h.page.textContent(`${row} .run-task`)).toMatch(
      /^waiting for approve since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/,
    );
    await h.page.selectOption('#run-filter', 'waiting');
    await h.page.waitForSelector(row);
    expect(await h.page.$$eval('#run-list li', (lis) => lis.map((li) => (li as HTMLElement).dataset.status))).toEqual(
      expect.arrayContaining(['waiting']),
    );
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-wait-list.png') });

    await h.page.click(row);
    await h.page.waitForSelector('#wait-panel:not([hidden])');
    expect(await h.page.textContent('#run-status')).toBe('waiting');
    const view = (await h.api(`/api/runs/${runId}`)) as Json;
    const text = await h.page.textContent('#wait-text');
    expect(text).toMatch(/^waiting for approve since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    // The expiry the page shows is the recorded one, 48 h after the wait began (in the browser's zone).
    const [since, expires] = [...text!.matchAll(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g)].map((m) => m[0]);
    expect(Date.parse(expires!.replace(' ', 'T')) - Date.parse(since!.replace(' ', 'T'))).toBe(48 * 3_600_000);
    expect(view.waiting.until - view.waiting.since).toBe(48 * 3_600_000);
    expect(await h.page.isVisible('#signal-approve')).toBe(true);
    expect(await h.page.isVisible('#signal-reject')).toBe(true);
    expect(await h.page.isEnabled('#cancel-run')).toBe(true);

    await h.page.fill('#signal-data', '{"approver": "ann", "contact": "ann@example.com"}');
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-wait-approve.png') });
    await h.page.click('#signal-approve');
    await h.page.waitForSelector('#run-status[data-kind="succeeded"]');
    expect(await h.page.isHidden('#wait-panel')).toBe(true);
    const done = (await h.api(`/api/runs/${runId}`)) as Json;
    expect(done.history.find((e: Json) => e.type === 'task.succeeded' && e.task === 'approve').result).toEqual({
      approver: 'ann',
      contact: 'ann@example.com',
    });
    expect(done.tasks.map((t: Json) => t.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-wait-approved.png') });
  }, 90_000);

  it('shows the problems of bad data by the field, its own and the server’s, and sends nothing the page can tell is wrong', async () => {
    const runId = await waitingRun();
    await h.page.goto(`${h.base}/#token=${TOKEN}&run=${runId}`);
    await h.page.waitForSelector('#wait-panel:not([hidden]) #signal-form:not([hidden])');
    const length = ((await h.api(`/api/runs/${runId}`)) as Json).history.length;

    // The page's own check, against the task's schema: nothing is sent.
    await h.page.fill('#signal-data', '{"approver": 5, "extra": true}');
    await h.page.click('#signal-approve');
    await h.page.waitForSelector('#signal-problems:not([hidden]) li[data-path="data.approver"]');
    expect(await problems()).toEqual(['data.approver: expected string, got 5', 'data.extra: unknown key']);
    expect(await h.page.getAttribute('#signal-data', 'aria-invalid')).toBe('true');
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-wait-schema-problem.png') });

    // Not JSON at all.
    await h.page.fill('#signal-data', '{"approver": ');
    await h.page.click('#signal-approve');
    await h.page.waitForSelector('#signal-problems li[data-path="data"]');

    // A problem only the server finds (the page does not check formats): its 400 shows by the field too.
    await h.page.fill('#signal-data', '{"approver": "ann", "contact": "not an address"}');
    await h.page.click('#signal-approve');
    await h.page.waitForSelector('#signal-problems li[data-path="data.contact"]');
    expect((await problems())[0]).toMatch(/^data\.contact: /);
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-wait-server-problem.png') });

    // Nothing was recorded: the run still waits.
    const after = (await h.api(`/api/runs/${runId}`)) as Json;
    expect(after.run.status).toBe('waiting');
    expect(after.history).toHaveLength(length);

    // Reject needs a reason; with one, the task fails for good and the run with it.
    await h.page.click('#signal-reject');
    await h.page.waitForSelector('#reject-problems li[data-path="reject"]');
    await h.page.fill('#signal-reason', 'not this week');
    await h.page.click('#signal-reject');
    await h.page.waitForSelector('#run-status[data-kind="failed"]');
    const failed = (await h.api(`/api/runs/${runId}`)) as Json;
    expect(failed.history.find((e: Json) => e.type === 'task.failed' && e.task === 'approve').error).toMatchObject({
      code: 'SIGNAL_REJECTED',
      message: 'rejected: not this week',
    });
  }, 90_000);

  it('shows a delay with its due time and no signal form, and keeps the wait inside an 800 px window', async () => {
    const { runId } = await h.api('/api/runs', { sequence: 'remind' });
    await until(async () => (await h.api(`/api/runs/${runId}`)).run?.status === 'waiting', 'the delay to wait');
    await h.page.goto(`${h.base}/#token=${TOKEN}&run=${runId}`);
    await h.page.waitForSelector('#wait-panel:not([hidden])');
    expect(await h.page.textContent('#wait-text')).toMatch(/^waiting for pause since .+, due .+$/);
    expect(await h.page.isHidden('#signal-form')).toBe(true);
    // Cancelling a wait stops nothing: the preview says so.
    await h.page.click('#cancel-run');
    expect(await h.page.textContent('#confirm-text')).toContain('the wait of pause ends (nothing runs to stop);');
    await h.page.click('#confirm-go');
    await h.page.waitForSelector('#run-status[data-kind="cancelled"]');
    expect(await h.page.isHidden('#wait-panel')).toBe(true);

    const approval = await waitingRun();
    await h.page.setViewportSize({ width: 800, height: 900 });
    await h.page.goto(`${h.base}/#token=${TOKEN}&run=${approval}`);
    await h.page.waitForSelector('#signal-form:not([hidden])');
    expect(await outsideViewport(h.page, '#wait-panel, #wait-panel *')).toEqual([]);
    await h.page.screenshot({ path: join(ARTIFACTS, 'serve-wait-narrow.png') });
    await h.api(`/api/runs/${approval}/cancel`, {});
  }, 90_000);

  it('loaded nothing from other origins and raised no script error', () => {
    expect(h.external).toEqual([]);
    expect(h.pageErrors).toEqual([]);
  });
});
