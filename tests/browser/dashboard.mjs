// The dashboard in a real browser: headless Chromium drives the page served
// by examples/axum_app.rs (started by .ci/run or by hand):
//
//   TASKQ_URL=http://127.0.0.1:3917/taskq TASKQ_TOKEN=s3cret \
//   SCREENSHOT=../../target/browser/dashboard.png node dashboard.mjs
//
// With TASKQ_APP_PID (the server's process id) it stops the server at the
// end and checks that the page says so.
//
// Scenario: submit a task through the schema-generated form and watch its
// progress bar until FINISHED; cancel a slow running task; pause a queue,
// reorder two pending tasks, resume; reorder by dragging; filter the list
// by created range; delete an ended task; markup in params and results
// renders as text (XSS); a 422 from the form names the field; create a
// schedule, disable, enable and run it; one that fires a workflow; see the example's worker, pause
// it (it claims nothing), resume it; see its task types, and the warning
// on a queue whose pending task no live worker can take, and its limit
// as running / limit. Then the operator's views (operator.mjs) and a
// workflow's (workflow.mjs). Screenshots of every view go next to
// SCREENSHOT.
import assert from 'node:assert/strict';
import { BASE, TOKEN, SCREENSHOT, ARTIFACTS, WAIT, step, launch, client, go } from './support.mjs';
import { operatorScenarios } from './operator.mjs';
import { workflowScenario } from './workflow.mjs';

const { page, problems, close } = await launch();
const api = client(page);

/** Clicks Submit and returns the new task's id once the form reports it. */
async function submitForm() {
  await page.click('#submit-button');
  await page.locator('#submit-result.ok-text[data-id]').waitFor(WAIT);
  return page.getAttribute('#submit-result', 'data-id');
}
const row = (id) => page.locator(`#tasks tr[data-id="${id}"]`);
async function waitForState(id, state) {
  await page.locator(`#tasks tr[data-id="${id}"][data-state="${state}"]`).waitFor(WAIT);
}
const queueButton = (queue, action) => page.locator(`#queues tr[data-queue="${queue}"] button.queue-${action}`);

let failed = false;
try {
  // Unauthenticated requests are refused; the page itself loads without data.
  const refused = await page.request.get(BASE + '/api/tasks');
  assert.equal(refused.status(), 401);

  step('open the dashboard with the token');
  await page.goto(BASE + '/dashboard#token=' + encodeURIComponent(TOKEN));
  await page.locator('#state-cards').waitFor(WAIT);
  assert.equal(await page.evaluate(() => location.hash), '', 'the token leaves the address bar');
  await page.selectOption('#interval', '1000');

  step('a 422 from the form names the field');
  await go(page, '#/submit');
  await page.locator('#submit-type option[value="slow_count"]').waitFor({ state: 'attached', ...WAIT });
  await page.selectOption('#submit-type', 'slow_count');
  await page.locator('#submit-params input[name="steps"]').waitFor(WAIT);
  await page.fill('#submit-params input[name="steps"]', '-3');
  await page.click('#submit-button');
  await page.locator('#submit-result.error-text').waitFor(WAIT);
  assert.match(await page.textContent('#submit-result'), /params\.steps/);

  step('submit through the generated form and watch the progress bar');
  await page.fill('#submit-params input[name="steps"]', '6');
  await page.fill('#submit-params input[name="step_ms"]', '700');
  const formTask = await submitForm();
  assert.ok(formTask, 'the form reports the new id');
  await go(page, '#/tasks');
  await waitForState(formTask, 'RUNNING');
  await page.waitForFunction((id) => {
    const bar = document.querySelector(`#tasks tr[data-id="${id}"] [role=progressbar]`);
    const value = bar && Number(bar.getAttribute('aria-valuenow'));
    return value > 0 && value < 100;
  }, formTask, WAIT);
  await waitForState(formTask, 'FINISHED');
  assert.equal(await row(formTask).locator('[role=progressbar]').getAttribute('aria-valuenow'), '100');
  const finished = await api.get('/tasks/' + formTask);
  assert.equal(finished.state, 'FINISHED');
  assert.equal(finished.result, 6);

  step('cancel a slow running task from its row');
  const slow = await api.post('/tasks', { task_type: 'slow_count', params: { steps: 200, step_ms: 300 } });
  await waitForState(slow.id, 'RUNNING');
  await row(slow.id).locator('button.cancel').click();
  await waitForState(slow.id, 'CANCELLED');
  assert.equal((await api.get('/tasks/' + slow.id)).error.kind, 'cancelled');

  step('pause a queue, reorder two pending tasks, resume');
  const warmUp = await api.post('/tasks', { task_type: 'greet', params: { name: 'warm-up' } });
  await waitForState(warmUp.id, 'FINISHED');
  await go(page, '#/');
  await queueButton('default', 'pause').click();
  await queueButton('default', 'resume').waitFor(WAIT);
  const first = await api.post('/tasks', { task_type: 'greet', params: { name: 'first' } });
  const second = await api.post('/tasks', { task_type: 'greet', params: { name: 'second' } });
  await go(page, '#/pending/default');
  const waitOrder = (ids) => page.waitForFunction((want) => [...document.querySelectorAll('#pending li')]
    .map((li) => li.dataset.id).join() === want, ids.join(), WAIT);
  await waitOrder([first.id, second.id]);
  await page.locator(`#pending li[data-id="${second.id}"] button.move-up`).click();
  await waitOrder([second.id, first.id]);
  await go(page, '#/');
  await queueButton('default', 'resume').click();
  await queueButton('default', 'pause').waitFor(WAIT);
  await api.until(first.id, (t) => t.state === 'FINISHED', 'FINISHED');
  await api.until(second.id, (t) => t.state === 'FINISHED', 'FINISHED');
  const [a, b] = [await api.get('/tasks/' + first.id), await api.get('/tasks/' + second.id)];
  assert.ok(b.started_at <= a.started_at, 'the moved task ran first');

  step('reorder pending tasks by dragging');
  await queueButton('default', 'pause').click();
  await queueButton('default', 'resume').waitFor(WAIT);
  const dragged = [];
  for (const name of ['drag-1', 'drag-2', 'drag-3']) {
    dragged.push((await api.post('/tasks', { task_type: 'greet', params: { name } })).id);
  }
  await go(page, '#/pending/default');
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
  const pendingNow = (await api.get('/tasks?state=PENDING&queue=default')).tasks
    .sort((x, y) => (y.priority - x.priority) || (x.seq - y.seq)).map((t) => t.id);
  assert.deepEqual(pendingNow, [dragged[1], dragged[0], dragged[2]], 'the server has the dragged order');
  await go(page, '#/');
  await queueButton('default', 'resume').click();
  for (const id of dragged) await api.until(id, (t) => t.state === 'FINISHED', 'FINISHED');
  const started = await Promise.all(dragged.map(async (id) => (await api.get('/tasks/' + id)).started_at));
  assert.ok(started[1] <= started[0] && started[0] <= started[2], 'they ran in the dragged order');

  step('filter the task list by created range');
  const everything = await api.get('/tasks?page_size=100');
  const latest = Math.max(...everything.tasks.map((t) => Date.parse(t.created_at)));
  await page.waitForTimeout(1500);
  const marker = await api.post('/tasks', { task_type: 'greet', params: { name: 'after the cut' } });
  // The whole second after the latest earlier task, as the page's local time.
  const cut = await page.evaluate((ms) => {
    const d = new Date(Math.floor(ms / 1000) * 1000 + 1000);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }, latest);
  await go(page, '#/tasks');
  const listedIds = (want) => page.waitForFunction((ids) => [...document.querySelectorAll('#tasks tbody tr')]
    .map((r) => r.dataset.id).join() === ids, want.join(), WAIT);
  await page.fill('#filter-created-after', cut);
  await listedIds([marker.id]);
  assert.match(await page.evaluate(() => location.hash), /^#\/tasks\?after=\d{4}-/, 'the filter is in the address');
  await page.fill('#filter-created-before', cut);
  await page.locator('#tasks-body .empty').waitFor(WAIT);
  assert.match(await page.textContent('#page-info'), /\b0 tasks/);
  await page.fill('#filter-created-after', '');
  await page.fill('#filter-created-before', '');
  await page.waitForFunction((n) => document.querySelectorAll('#tasks tbody tr').length === n,
    Math.min(20, everything.total + 1), WAIT);

  step('delete an ended task from its row');
  await waitForState(marker.id, 'FINISHED');
  await row(marker.id).locator('button.delete').click();
  await row(marker.id).waitFor({ state: 'detached', ...WAIT });
  assert.equal(await api.status('/tasks/' + marker.id), 404);

  step('markup in params and results renders as text');
  const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>';
  await go(page, '#/submit');
  await page.selectOption('#submit-type', 'greet');
  await page.fill('#submit-params input[name="name"]', payload);
  const xssTask = await submitForm();
  assert.notEqual(xssTask, formTask);
  await go(page, '#/tasks');
  await waitForState(xssTask, 'FINISHED');
  // A click on the row (not on a control) opens the task.
  await row(xssTask).locator('td[data-label="queue"]').click();
  await page.locator('#detail dd[data-field="result"] pre').waitFor(WAIT);
  assert.ok((await page.textContent('#detail dd[data-field="params"]')).includes('<script>'));
  assert.equal(await page.textContent('#detail dd[data-field="result"] pre'), JSON.stringify('hello, ' + payload, null, 2));
  assert.equal(await page.locator('main img, main script').count(), 0, 'no element was created from data');
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no injected code ran');

  step('a unique task shows its key, and a second submit answers with it');
  const uniqueBody = { task_type: 'greet', params: { name: 'once' }, unique: { fields: ['name'], period: 600, states: ['PENDING', 'RUNNING', 'FINISHED'] } };
  const holder = await api.post('/tasks', uniqueBody);
  const duplicate = await api.post('/tasks', uniqueBody);
  assert.equal(duplicate.id, holder.id, 'the duplicate submit answers with the holder');
  await go(page, '#/task/' + holder.id);
  const uniqueCell = page.locator('#detail dd[data-field="unique key"]');
  await uniqueCell.locator('code').waitFor(WAIT);
  assert.equal(await uniqueCell.locator('code').textContent(), 'greet:["once"]');
  assert.match(await uniqueCell.textContent(), /held while PENDING or RUNNING or FINISHED until/);

  step('create a schedule from the form, disable, enable and run it');
  await go(page, '#/schedules');
  await page.fill('#schedule-name', 'browser-hourly');
  await page.selectOption('#schedule-type', 'greet');
  await page.selectOption('#schedule-kind', 'interval');
  await page.fill('#schedule-when', '3600');
  await page.fill('#schedule-params', '{"name": "from a schedule"}');
  await page.click('#schedule-button');
  await page.locator('#schedule-result.ok-text').waitFor(WAIT);
  const scheduleRow = page.locator('#schedules tr[data-name="browser-hourly"]');
  await scheduleRow.locator('button.schedule-disable').click();
  await scheduleRow.locator('button.schedule-enable').waitFor(WAIT);
  assert.equal((await api.get('/schedules/browser-hourly')).enabled, false);
  await scheduleRow.locator('button.schedule-enable').click();
  await scheduleRow.locator('button.schedule-disable').waitFor(WAIT);
  await scheduleRow.locator('button.schedule-run').click();
  const fromSchedule = await (async () => {
    for (let i = 0; i < 60; i++) {
      const found = (await api.get('/tasks?task_type=greet')).tasks.find((t) => t.params.name === 'from a schedule');
      if (found) return found;
      await page.waitForTimeout(250);
    }
    return null;
  })();
  assert.ok(fromSchedule, 'run now submitted the schedule\'s task');
  await api.until(fromSchedule.id, (t) => t.state === 'FINISHED', 'FINISHED');

  step('create a schedule that fires a workflow from the form, see its steps, run it');
  await page.fill('#schedule-name', 'browser-workflow');
  await page.selectOption('#schedule-type', '__workflow__');
  await page.selectOption('#schedule-kind', 'interval');
  await page.fill('#schedule-when', '3600');
  await page.fill('#schedule-params', JSON.stringify({ steps: [
    { name: 'hello', task: 'greet', params: { name: 'workflow tick 1' } },
    { name: 'again', task: 'greet', params: { name: 'workflow tick 2' }, after: ['hello'], input: 'params' },
  ] }));
  await page.click('#schedule-button');
  await page.locator('#schedule-result.ok-text').waitFor(WAIT);
  const workflowRow = page.locator('#schedules tr[data-name="browser-workflow"]');
  assert.match(await workflowRow.textContent(), /workflow \(2 steps: hello, again\)/);
  await workflowRow.locator('button.schedule-run').click();
  const secondStep = await (async () => {
    for (let i = 0; i < 60; i++) {
      const found = (await api.get('/tasks?task_type=greet')).tasks.find((t) => t.params.name === 'workflow tick 2');
      if (found) return found;
      await page.waitForTimeout(250);
    }
    return null;
  })();
  assert.ok(secondStep, 'run now stored the workflow');
  await api.until(secondStep.id, (t) => t.state === 'FINISHED', 'FINISHED after its parent');

  step('see the worker, pause it, see it paused and idle, resume it');
  await go(page, '#/workers');
  const anyWorker = page.locator('#workers tr[data-state="running"]').first();
  await anyWorker.waitFor(WAIT);
  const workerId = await anyWorker.getAttribute('data-worker');
  const workerRow = (state) => page.locator(`#workers tr[data-worker="${workerId}"]` + (state ? `[data-state="${state}"]` : ''));
  assert.match(await workerRow().textContent(), /default ×4/);
  await workerRow().locator('button.worker-pause').click();
  await workerRow('paused').waitFor(WAIT);
  assert.equal((await api.get('/workers/' + encodeURIComponent(workerId))).state, 'paused');
  const held = await api.post('/tasks', { task_type: 'greet', params: { name: 'held while paused' } });
  await page.waitForTimeout(1500);
  assert.equal((await api.get('/tasks/' + held.id)).state, 'PENDING', 'a paused worker claims nothing');
  await workerRow('paused').locator('button.worker-resume').click();
  await workerRow('running').waitFor(WAIT);
  await api.until(held.id, (t) => t.state === 'FINISHED', 'FINISHED');

  step('see the task types the worker runs, and a warning for work no worker can take');
  const types = workerRow().locator('td.task-types');
  assert.match(await types.getAttribute('title'), /^greet$/m, 'every type on hover');
  const stranded = await api.post('/tasks', { task_type: 'greet', params: { name: 'nobody' }, queue: 'nobody-serves' });
  await go(page, '#/');
  const warning = page.locator('#queues tr.unclaimable[data-unclaimable="nobody-serves"]');
  await warning.waitFor(WAIT);
  assert.match(await warning.textContent(), /no live worker serves this queue \(greet ×1\)/);
  const stats = (await api.get('/queues')).find((q) => q.queue === 'nobody-serves');
  assert.deepEqual([stats.live_workers, stats.unclaimable, stats.unclaimable_types],
    [0, 1, [{ task_type: 'greet', count: 1 }]]);

  step('a queue limit shows as running / limit');
  const limited = await api.put('/queues/nobody-serves/limit', { limit: 2 });
  assert.equal(limited.limit, 2);
  const limitCell = page.locator('#queues tr[data-queue="nobody-serves"] .queue-limit');
  await limitCell.waitFor(WAIT);
  assert.equal((await limitCell.textContent()).trim(), '0 / 2');
  await api.put('/queues/nobody-serves/limit', { limit: null });
  await limitCell.waitFor({ state: 'detached', ...WAIT });
  await api.post('/queues/nobody-serves/purge', {});
  assert.equal((await api.get('/tasks/' + stranded.id)).state, 'CANCELLED');
  await warning.waitFor({ state: 'detached', ...WAIT });

  await operatorScenarios(page, api);
  await workflowScenario(page, api);

  if (process.env.TASKQ_APP_PID) {
    step('the server stopped: the page says it is disconnected');
    await go(page, '#/');
    process.kill(Number(process.env.TASKQ_APP_PID), 'SIGTERM');
    await page.locator('#banner[data-kind="disconnected"]').waitFor({ state: 'visible', ...WAIT });
    await page.screenshot({ path: ARTIFACTS + '/dashboard-server-stopped.png', fullPage: true });
  }

  assert.deepEqual(problems, [], 'no errors in the page');
  console.log('browser test passed');
} catch (err) {
  failed = true;
  console.error('browser test FAILED:', err);
  if (problems.length) console.error(problems.join('\n'));
} finally {
  try {
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log('screenshots:', ARTIFACTS);
  } catch (err) {
    console.error('no screenshot:', err.message);
  }
  await close();
}
process.exit(failed ? 1 : 0);
