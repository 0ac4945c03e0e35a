/// <reference lib="dom" />
// What the serve page's browser tests share: Debian's chromium through playwright-core (never a downloaded
// browser), a real `lockstep serve` process over temporary sequences, gate files that decide when a shell task
// ends, and checks that the page loaded nothing from other origins and raised no script error.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { ROOT } from '../support/cli.js';
import type { ServeProcess } from './serve-process.js';
import { spawnServe } from './serve-process.js';

export const CHROMIUM = '/usr/bin/chromium';
export const TOKEN = 'browser-test-token';
export const ARTIFACTS = join(ROOT, 'test-artifacts');

export interface PageHarness {
  readonly dir: string;
  readonly gates: string;
  readonly machines: string;
  readonly serve: ServeProcess;
  readonly base: string;
  readonly browser: Browser;
  readonly page: Page;
  /** Requests to any other origin, and script errors: both must stay empty. */
  readonly external: string[];
  readonly pageErrors: string[];
  /** Lets a gated task finish. */
  open(gate: string): void;
  /** A shell command that waits for a gate file. */
  wait(gate: string): string;
  /** GET (no body) or an authorized POST of the API, as JSON. */
  api(path: string, body?: unknown): Promise<Record<string, any>>;
  close(): Promise<void>;
}

/** Writes the sequences `write(machines, wait)` makes, starts `lockstep serve` on them and opens a page. */
export async function pageHarness(
  write: (machines: string, wait: (gate: string) => string, gates: string) => void,
  viewport = { width: 1440, height: 960 },
): Promise<PageHarness> {
  if (!existsSync(join(ROOT, 'dist/http/ui/index.html'))) throw new Error('dist/ is missing the serve page: run `npm run build` first');
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-browser-'));
  const gates = join(dir, 'gates');
  const machines = join(dir, 'machines');
  mkdirSync(gates);
  mkdirSync(machines);
  mkdirSync(ARTIFACTS, { recursive: true });
  const wait = (gate: string) => `while [ ! -f "${gates}/${gate}" ]; do sleep 0.02; done`;
  write(machines, wait, gates);
  const serve = await spawnServe(['--machines', machines], { cwd: dir, env: { LOCKSTEP_TOKEN: TOKEN }, timeoutMs: 60_000 });
  const base = serve.base;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(30_000);
  const external: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:')) external.push(r.url());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return {
    dir,
    gates,
    machines,
    serve,
    base,
    browser,
    page,
    external,
    pageErrors,
    wait,
    open: (gate) => writeFileSync(join(gates, gate), ''),
    async api(path, body) {
      const res = await fetch(
        `${base}${path}`,
        body === undefined
          ? {}
          : {
              method: 'POST',
              headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
              body: JSON.stringify(body),
            },
      );
      return (await res.json()) as Record<string, any>;
    },
    async close() {
      await browser.close();
      await serve.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls the API until `check` holds, or fails after `timeoutMs` naming `what`. */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Elements matching `selector` that are visible but reach outside the viewport (left, right or off its width). */
export async function outsideViewport(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => {
    const width = document.documentElement.clientWidth;
    return els
      .filter((e) => {
        const r = e.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) return false;
        return r.left < 0 || r.right > width + 0.5;
      })
      .map(
        (e) =>
          `${e.tagName.toLowerCase()}#${e.id || (e as HTMLElement).className} [${Math.round(e.getBoundingClientRect().left)}, ${Math.round(e.getBoundingClientRect().right)}] of ${width}`,
      );
  });
}
