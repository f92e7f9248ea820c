// A very small test harness: named steps with timings, screenshots of every page, and a record
// of the network traffic of each browser context.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export class Run {
  constructor(topology, screenshotDir) {
    this.topology = topology;
    this.dir = join(screenshotDir, topology);
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    this.shots = 0;
    this.steps = [];
  }

  /** Saves a screenshot (of the full page unless `fullPage: false`) as `<NN>-<name>.png`. */
  async shot(page, name, { fullPage = true } = {}) {
    this.shots += 1;
    const file = join(this.dir, `${String(this.shots).padStart(2, '0')}-${name}.png`);
    // Let fonts and the last paint settle; the caret blinking would make images differ.
    await page.evaluate(() => document.fonts && document.fonts.ready);
    // A full-page capture of a scrolled page draws the sticky top bar where the viewport was.
    if (fullPage) await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: file, fullPage, caret: 'hide', animations: 'disabled' });
    return file;
  }

  /** Runs one step; on failure saves a screenshot of every open page and rethrows. */
  async step(name, work, pages = []) {
    const started = Date.now();
    try {
      await work();
      const ms = Date.now() - started;
      this.steps.push({ name, ms, ok: true });
      console.log(`  ✓ ${name} (${(ms / 1000).toFixed(1)} s)`);
    } catch (error) {
      const ms = Date.now() - started;
      this.steps.push({ name, ms, ok: false });
      console.log(`  ✗ ${name} (${(ms / 1000).toFixed(1)} s)`);
      for (const [i, page] of pages.entries()) {
        try {
          if (!page.isClosed()) {
            await page.screenshot({ path: join(this.dir, `FAILED-${name.replace(/\W+/g, '-')}-${i}.png`), fullPage: true });
            console.log(`    page ${i} was at ${page.url()}`);
          }
        } catch {
          // the page is gone
        }
      }
      throw error;
    }
  }
}

/** Records every request (method, URL, headers) and response status of a browser context. */
export function recordTraffic(context) {
  const log = [];
  context.on('request', (request) => {
    log.push({ request, method: request.method(), url: request.url(), status: null });
  });
  context.on('response', (response) => {
    const entry = log.find((e) => e.request === response.request());
    if (entry) entry.status = response.status();
  });
  context.on('requestfailed', (request) => {
    const entry = log.find((e) => e.request === request);
    // A response whose body was cut short (the page navigated away) keeps its status.
    if (entry && entry.status === null) entry.status = 'failed';
  });
  return log;
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, message) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`assertion failed: ${message}\n    expected ${JSON.stringify(expected)}\n    got      ${JSON.stringify(actual)}`);
  }
}
