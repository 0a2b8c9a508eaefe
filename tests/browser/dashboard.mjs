// The dashboard in a real browser: headless Chromium drives the page served
// by examples/axum_app.rs (started by .ci/run or by hand):
//
//   TASKQ_URL=http://127.0.0.1:3917/taskq TASKQ_TOKEN=s3cret \
//   SCREENSHOT=../../target/dashboard.png node dashboard.mjs
//
// Scenario: submit a task through the schema-generated form and watch its
// progress bar until FINISHED; cancel a slow running task; pause a queue,
// reorder two pending tasks, resume; check that markup in params and
// results renders as text (XSS); a 422 from the form names the field;
// reorder pending tasks by dragging; filter the list by created range;
// delete an ended task;
// create a schedule, disable, enable and run it; see the example's worker
// in the Workers table, pause it (it claims nothing), resume it; see its
// task types, and the warning on a queue whose pending task no live worker
// can take.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';

const BASE = (process.env.TASKQ_URL || 'http://127.0.0.1:3917/taskq').replace(/\/$/, '');
const TOKEN = process.env.TASKQ_TOKEN || 's3cret';
const SCREENSHOT = process.env.SCREENSHOT || '../../target/dashboard.png';
const WAIT = { timeout: 30_000 };

const userDataDir = mkdtempSync(join(tmpdir(), 'taskq-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1400, height: 1000 },
});
const page = context.pages()[0] || await context.newPage();
const problems = [];
page.on('pageerror', (err) => problems.push('page error: ' + err.message));
// Failed requests (the 422 this test provokes, a missing favicon) are
// reported by the page itself; other console errors are problems.
page.on('console', (msg) => {
  if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push('console: ' + msg.text());
});
page.on('dialog', (dialog) => dialog.accept());

const auth = { Authorization: 'Bearer ' + TOKEN };
async function apiPost(path, body) {
  const response = await page.request.post(BASE + '/api' + path, { headers: auth, data: body });
  assert.ok(response.ok(), `${path}: ${response.status()} ${await response.text()}`);
  return response.json();
}
async function apiGet(path) {
  const response = await page.request.get(BASE + '/api' + path, { headers: auth });
  assert.ok(response.ok(), `${path}: ${response.status()}`);
  return response.json();
}
/** Clicks Submit and returns the new task's id once the form reports it. */
async function submitForm() {
  await page.click('#submit-button');
  await page.locator('#submit-result.ok[data-id]').waitFor(WAIT);
  return page.getAttribute('#submit-result', 'data-id');
}
const row = (id) => page.locator(`#tasks tr[data-id="${id}"]`);
async function waitForState(id, state) {
  await page.locator(`#tasks tr[data-id="${id}"][data-state="${state}"]`).waitFor(WAIT);
}
function step(name) { console.log('--', name); }

let failed = false;
try {
  // Unauthenticated requests are refused; the page itself loads without data.
  const refused = await page.request.get(BASE + '/api/tasks');
  assert.equal(refused.status(), 401);

  step('open the dashboard with the token');
  await page.goto(BASE + '/dashboard#token=' + encodeURIComponent(TOKEN));
  await page.locator('#submit-type option[value="slow_count"]').waitFor({ state: 'attached', ...WAIT });
  assert.equal(await page.evaluate(() => location.hash), '', 'the token leaves the address bar');

  step('a 422 from the form names the field');
  await page.selectOption('#submit-type', 'slow_count');
  await page.locator('#submit-params input[name="steps"]').waitFor(WAIT);
  await page.fill('#submit-params input[name="steps"]', '-3');
  await page.click('#submit-button');
  await page.locator('#submit-result.error').waitFor(WAIT);
  assert.match(await page.textContent('#submit-result'), /params\.steps/);

  step('submit through the generated form and watch the progress bar');
  await page.fill('#submit-params input[name="steps"]', '6');
  await page.fill('#submit-params input[name="step_ms"]', '700');
  const formTask = await submitForm();
  assert.ok(formTask, 'the form reports the new id');
  await waitForState(formTask, 'RUNNING');
  await page.waitForFunction((id) => {
    const bar = document.querySelector(`#tasks tr[data-id="${id}"] [role=progressbar]`);
    const value = bar && Number(bar.getAttribute('aria-valuenow'));
    return value > 0 && value < 100;
  }, formTask, WAIT);
  await waitForState(formTask, 'FINISHED');
  assert.equal(await row(formTask).locator('[role=progressbar]').getAttribute('aria-valuenow'), '100');
  const finished = await apiGet('/tasks/' + formTask);
  assert.equal(finished.state, 'FINISHED');
  assert.equal(finished.result, 6);

  step('cancel a slow running task from its row');
  const slow = await apiPost('/tasks', { task_type: 'slow_count', params: { steps: 200, step_ms: 300 } });
  await waitForState(slow.id, 'RUNNING');
  await row(slow.id).locator('button.cancel').click();
  await waitForState(slow.id, 'CANCELLED');
  assert.equal((await apiGet('/tasks/' + slow.id)).error.kind, 'cancelled');

  step('pause a queue, reorder two pending tasks, resume');
  const warmUp = await apiPost('/tasks', { task_type: 'greet', params: { name: 'warm-up' } });
  await waitForState(warmUp.id, 'FINISHED');
  await page.locator('#queues tr[data-queue="default"] button.pause').click();
  await page.locator('#queues tr[data-queue="default"] button.resume').waitFor(WAIT);
  const first = await apiPost('/tasks', { task_type: 'greet', params: { name: 'first' } });
  const second = await apiPost('/tasks', { task_type: 'greet', params: { name: 'second' } });
  await page.selectOption('#pending-queue', 'default');
  const pendingOrder = () => page.$$eval('#pending li', (items) => items.map((li) => li.dataset.id));
  await page.waitForFunction(() => document.querySelectorAll('#pending li').length >= 2, null, WAIT);
  assert.deepEqual(await pendingOrder(), [first.id, second.id]);
  await page.locator(`#pending li[data-id="${second.id}"] button.up`).click();
  await page.waitForFunction((want) => [...document.querySelectorAll('#pending li')]
    .map((li) => li.dataset.id).join() === want, [second.id, first.id].join(), WAIT);
  await page.locator('#queues tr[data-queue="default"] button.resume').click();
  await waitForState(first.id, 'FINISHED');
  await waitForState(second.id, 'FINISHED');
  const [a, b] = [await apiGet('/tasks/' + first.id), await apiGet('/tasks/' + second.id)];
  assert.ok(b.started_at <= a.started_at, 'the moved task ran first');

  step('reorder pending tasks by dragging');
  await page.locator('#queues tr[data-queue="default"] button.pause').click();
  await page.locator('#queues tr[data-queue="default"] button.resume').waitFor(WAIT);
  const dragged = [];
  for (const name of ['drag-1', 'drag-2', 'drag-3']) {
    dragged.push((await apiPost('/tasks', { task_type: 'greet', params: { name } })).id);
  }
  const waitOrder = (ids) => page.waitForFunction((want) => [...document.querySelectorAll('#pending li')]
    .map((li) => li.dataset.id).join() === want, ids.join(), WAIT);
  const item = (id) => page.locator(`#pending li[data-id="${id}"]`);
  await waitOrder(dragged);
  // The last onto the first: it goes to the front.
  await item(dragged[2]).dragTo(item(dragged[0]));
  await waitOrder([dragged[2], dragged[0], dragged[1]]);
  // The first onto the last: it goes to the back.
  await item(dragged[2]).dragTo(item(dragged[1]));
  await waitOrder([dragged[0], dragged[1], dragged[2]]);
  // The middle onto the first: it takes its place.
  await item(dragged[1]).dragTo(item(dragged[0]));
  await waitOrder([dragged[1], dragged[0], dragged[2]]);
  const pendingNow = (await apiGet('/tasks?state=PENDING&queue=default')).tasks
    .sort((x, y) => (y.priority - x.priority) || (x.seq - y.seq)).map((t) => t.id);
  assert.deepEqual(pendingNow, [dragged[1], dragged[0], dragged[2]], 'the server has the dragged order');
  await page.locator('#queues tr[data-queue="default"] button.resume').click();
  for (const id of dragged) await waitForState(id, 'FINISHED');
  const started = await Promise.all(dragged.map(async (id) => (await apiGet('/tasks/' + id)).started_at));
  assert.ok(started[1] <= started[0] && started[0] <= started[2], 'they ran in the dragged order');

  step('filter the task list by created range');
  const everything = await apiGet('/tasks?page_size=100');
  const latest = Math.max(...everything.tasks.map((t) => Date.parse(t.created_at)));
  await page.waitForTimeout(1500);
  const marker = await apiPost('/tasks', { task_type: 'greet', params: { name: 'after the cut' } });
  // The whole second after the latest earlier task, as the page's local time.
  const cut = await page.evaluate((ms) => {
    const d = new Date(Math.floor(ms / 1000) * 1000 + 1000);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }, latest);
  const listedIds = (want) => page.waitForFunction((ids) => [...document.querySelectorAll('#tasks tbody tr')]
    .map((r) => r.dataset.id).join() === ids, want.join(), WAIT);
  await page.fill('#filter-created-after', cut);
  await listedIds([marker.id]);
  await page.fill('#filter-created-before', cut);
  await listedIds([]);
  assert.match(await page.textContent('#page-info'), /\b0 tasks/);
  await page.fill('#filter-created-after', '');
  await page.fill('#filter-created-before', '');
  await page.waitForFunction((n) => document.querySelectorAll('#tasks tbody tr').length === n,
    Math.min(20, everything.total + 1), WAIT);

  step('delete an ended task from its row');
  await waitForState(marker.id, 'FINISHED');
  await row(marker.id).locator('button.delete').click();
  await row(marker.id).waitFor({ state: 'detached', ...WAIT });
  assert.equal((await page.request.get(BASE + '/api/tasks/' + marker.id, { headers: auth })).status(), 404);

  step('markup in params and results renders as text');
  const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>';
  await page.selectOption('#submit-type', 'greet');
  await page.fill('#submit-params input[name="name"]', payload);
  const xssTask = await submitForm();
  assert.notEqual(xssTask, formTask);
  await waitForState(xssTask, 'FINISHED');
  await row(xssTask).click();
  await page.locator('#detail dd[data-field="result"] pre').waitFor(WAIT);
  assert.ok((await page.textContent('#detail dd[data-field="params"]')).includes('<script>'));
  assert.equal(await page.textContent('#detail dd[data-field="result"] pre'), JSON.stringify('hello, ' + payload, null, 2));
  assert.equal(await page.locator('main img, main script').count(), 0, 'no element was created from data');
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected code ran');

  step('create a schedule from the form, disable, enable and run it');
  await page.fill('#schedule-name', 'browser-hourly');
  await page.selectOption('#schedule-type', 'greet');
  await page.selectOption('#schedule-kind', 'interval');
  await page.fill('#schedule-when', '3600');
  await page.fill('#schedule-params', '{"name": "from a schedule"}');
  await page.click('#schedule-button');
  await page.locator('#schedule-result.ok').waitFor(WAIT);
  const scheduleRow = page.locator('#schedules tr[data-name="browser-hourly"]');
  await scheduleRow.locator('button.disable').click();
  await scheduleRow.locator('button.enable').waitFor(WAIT);
  assert.equal((await apiGet('/schedules/browser-hourly')).enabled, false);
  await scheduleRow.locator('button.enable').click();
  await scheduleRow.locator('button.disable').waitFor(WAIT);
  await scheduleRow.locator('button.run').click();
  const fromSchedule = await (async () => {
    for (let i = 0; i < 60; i++) {
      const found = (await apiGet('/tasks?task_type=greet')).tasks.find((t) => t.params.name === 'from a schedule');
      if (found) return found;
      await page.waitForTimeout(250);
    }
    return null;
  })();
  assert.ok(fromSchedule, 'run now submitted the schedule\'s task');
  await waitForState(fromSchedule.id, 'FINISHED');

  step('see the worker, pause it, see it paused and idle, resume it');
  const anyWorker = page.locator('#workers tr[data-state="running"]').first();
  await anyWorker.waitFor(WAIT);
  const workerId = await anyWorker.getAttribute('data-worker');
  const workerRow = (state) => page.locator(`#workers tr[data-worker="${workerId}"]` + (state ? `[data-state="${state}"]` : ''));
  assert.match(await workerRow().textContent(), /default ×4/);
  await workerRow().locator('button.pause').click();
  await workerRow('paused').waitFor(WAIT);
  assert.equal((await apiGet('/workers/' + encodeURIComponent(workerId))).state, 'paused');
  const held = await apiPost('/tasks', { task_type: 'greet', params: { name: 'held while paused' } });
  await page.waitForTimeout(1500);
  assert.equal((await apiGet('/tasks/' + held.id)).state, 'PENDING', 'a paused worker claims nothing');
  await workerRow('paused').locator('button.resume').click();
  await workerRow('running').waitFor(WAIT);
  await waitForState(held.id, 'FINISHED');

  step('see the task types the worker runs, and a warning for work no worker can take');
  const types = workerRow().locator('td.task-types');
  assert.match(await types.getAttribute('title'), /^greet$/m, 'every type on hover');
  const stranded = await apiPost('/tasks', { task_type: 'greet', params: { name: 'nobody' }, queue: 'nobody-serves' });
  const warning = page.locator('#queues tr.unclaimable[data-unclaimable="nobody-serves"]');
  await warning.waitFor(WAIT);
  assert.match(await warning.textContent(), /no live worker serves this queue \(greet ×1\)/);
  const stats = (await apiGet('/queues')).find((q) => q.queue === 'nobody-serves');
  assert.deepEqual([stats.live_workers, stats.unclaimable, stats.unclaimable_types],
    [0, 1, [{ task_type: 'greet', count: 1 }]]);
  await apiPost('/queues/nobody-serves/purge', {});
  assert.equal((await apiGet('/tasks/' + stranded.id)).state, 'CANCELLED');
  await warning.waitFor({ state: 'detached', ...WAIT });

  assert.deepEqual(problems, [], 'no errors in the page');
  console.log('browser test passed');
} catch (err) {
  failed = true;
  console.error('browser test FAILED:', err);
  if (problems.length) console.error(problems.join('\n'));
} finally {
  try {
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log('screenshot:', SCREENSHOT);
  } catch (err) {
    console.error('no screenshot:', err.message);
  }
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
