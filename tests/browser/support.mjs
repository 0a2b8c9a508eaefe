// What the browser test's scenarios share: the browser, API calls beside
// the page, waiting for the page's refreshes, screenshots, the layout and
// accessibility checks.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const BASE = (process.env.TASKQ_URL || 'http://127.0.0.1:3917/taskq').replace(/\/$/, '');
export const TOKEN = process.env.TASKQ_TOKEN || 's3cret';
/** The main screenshot; every view's goes next to it as dashboard-<view>.png. */
export const SCREENSHOT = process.env.SCREENSHOT || '../../target/browser/dashboard.png';
export const ARTIFACTS = dirname(SCREENSHOT);
export const WAIT = { timeout: 30_000 };
export const DESKTOP = { width: 1400, height: 1000 };
export const PHONE = { width: 390, height: 844 };
export const TIME_ZONE = 'Europe/Berlin';

export function step(name) { console.log('--', name); }

export async function launch() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'taskq-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: DESKTOP,
    // Not UTC, so the zone shown with a time is a real check.
    timezoneId: TIME_ZONE,
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push('page error: ' + err.message));
  // Failed requests (the 4xx this test provokes, the requests it cuts, a
  // missing favicon) are reported by the page itself; other console
  // errors — a refused inline script or style among them — are problems.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push('console: ' + msg.text());
  });
  page.on('dialog', (dialog) => dialog.accept());
  mkdirSync(ARTIFACTS, { recursive: true });
  const close = async () => {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { page, problems, close };
}

/** API calls beside the page, with the right token. */
export function client(page) {
  const headers = { Authorization: 'Bearer ' + TOKEN };
  return {
    async get(path) {
      const response = await page.request.get(BASE + '/api' + path, { headers });
      assert.ok(response.ok(), `GET ${path}: ${response.status()}`);
      return response.json();
    },
    async post(path, body = {}) {
      const response = await page.request.post(BASE + '/api' + path, { headers, data: body });
      assert.ok(response.ok(), `POST ${path}: ${response.status()} ${await response.text()}`);
      return response.json();
    },
    async put(path, body = {}) {
      const response = await page.request.put(BASE + '/api' + path, { headers, data: body });
      assert.ok(response.ok(), `PUT ${path}: ${response.status()} ${await response.text()}`);
      return response.json();
    },
    async status(path) {
      return (await page.request.get(BASE + '/api' + path, { headers })).status();
    },
    /** Polls `GET api/tasks/{id}` until `check(task)` holds. */
    async until(id, check, what) {
      for (let i = 0; i < 120; i++) {
        const task = await this.get('/tasks/' + id);
        if (check(task)) return task;
        await page.waitForTimeout(250);
      }
      throw new Error(`task ${id} never became ${what}`);
    },
  };
}

/** Waits for `n` more completed refreshes of the page. */
export async function refreshed(page, n = 1) {
  for (let i = 0; i < n; i++) {
    const before = await page.getAttribute('#updated', 'data-refreshed-at');
    await page.waitForFunction((was) => {
      const now = document.querySelector('#updated').dataset.refreshedAt;
      return now && now !== was && !document.body.dataset.refreshing;
    }, before, WAIT);
  }
}

/** Goes to a dashboard address (`#/tasks/failed`) and waits for its data. */
export async function go(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await refreshed(page);
}

export async function shoot(page, name) {
  const path = join(ARTIFACTS, 'dashboard-' + name + '.png');
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The page is no wider than the window (nothing to scroll sideways). */
export async function assertNoSideScroll(page, what) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width, `${what}: the page is ${scroll} px wide in a ${width} px window`);
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core's WCAG 2.1 A and AA rules on the page as it is; fails on
 * any serious or critical violation. axe is evaluated through the
 * DevTools protocol, which the page's script-src policy does not govern.
 */
export async function assertAccessible(page, what) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + n.failureSummary),
    }));
  });
  const grave = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(grave, [], `${what}: accessibility violations\n` + JSON.stringify(grave, null, 2));
  return violations.length;
}
