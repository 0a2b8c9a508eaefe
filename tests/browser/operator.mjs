// The operator's views: overview counts and latency, the throughput chart
// by queue and as a failure rate, the pending order's
// ETAs and truncation note, state tabs and task URLs with back / forward,
// times with their zone, search, bulk actions, text selection across
// refreshes, a task's attempts and tags, one refresh at a time, the connection banner, the layout at
// 390 px and axe-core's accessibility rules — with a screenshot per view.
import assert from 'node:assert/strict';
import {
  TOKEN, WAIT, DESKTOP, PHONE, step, go, refreshed, shoot, assertNoSideScroll, assertAccessible,
} from './support.mjs';

/** A backlog no worker serves: more pending tasks than one API page. */
const BACKLOG = 'backlog';
const BACKLOG_DUE = 105;

async function seed(api) {
  // Oldest first: the one scheduled for later is among the oldest 100.
  const later = await api.post('/tasks', { task_type: 'greet', params: { name: 'later' }, queue: BACKLOG, countdown: 3600 });
  for (let i = 0; i < BACKLOG_DUE; i += 15) {
    await Promise.all(Array.from({ length: Math.min(15, BACKLOG_DUE - i) }, (_, j) =>
      api.post('/tasks', { task_type: 'greet', params: { name: 'backlog ' + (i + j) }, queue: BACKLOG })));
  }
  const trickle = await api.post('/tasks', { task_type: 'greet', params: { name: 'trickle' }, queue: 'trickle' });
  // Three failures in `heavy` (a one-second timeout, 1.5 s of work).
  const failed = [];
  for (const title of ['q1', 'q2', 'q3']) {
    failed.push((await api.post('/tasks', { task_type: 'report_generation', params: { title, render_ms: 1500 }, queue: 'heavy' })).id);
  }
  for (const id of failed) await api.until(id, (t) => t.state === 'FAILED', 'FAILED');
  return { later, trickle, failed };
}

const text = (page, selector) => page.locator(selector).first().textContent();

async function overview(page, api, seeded) {
  step('overview: counts per state, depth and latency per queue');
  await go(page, '#/');
  const finished = (await api.get('/tasks?state=FINISHED&page_size=1')).total;
  assert.equal((await text(page, '#state-cards a[data-state="FINISHED"] .count')).replace(/,/g, ''), String(finished));
  const backlog = page.locator(`#queues tr[data-queue="${BACKLOG}"]`);
  assert.equal(await backlog.locator('td[data-label="due"]').textContent(), String(BACKLOG_DUE));
  assert.equal(await backlog.locator('td[data-label="scheduled"]').textContent(), '1');
  // 106 pending, one page of 100 read: a lower bound, and said so.
  assert.match(await backlog.locator('td[data-label="latency"]').textContent(), /^≥ \d+ (ms|s|min)/);
  assert.match(await backlog.locator('td[data-label="latency"] span').getAttribute('title'), /at least/);
  const trickle = page.locator('#queues tr[data-queue="trickle"] td[data-label="latency"]');
  assert.match(await trickle.textContent(), /^\d+ (ms|s|min)/, 'every pending task read: exact');
  assert.match(await text(page, '#queues tr[data-queue="heavy"] td[data-label="failed"]'), /^[1-9]/);
  assert.equal(await page.locator(`#latest-failures a[href="#/task/${seeded.failed[2]}"]`).count(), 1);
  // The throughput chart: drawn by the vendored uPlot; its caption counts
  // what the workers ended (added with their heartbeats, so poll).
  await page.locator('#throughput canvas').first().waitFor(WAIT);
  await page.waitForFunction(
    () => /[1-9][\d,]* finished, .*[1-9][\d,]* failed/.test(document.getElementById('throughput-caption')?.textContent || ''),
    null, WAIT);
  const counted = await api.get('/stats/throughput?minutes=60');
  assert.ok(counted.counts.some((c) => c.queue === 'heavy' && c.failed > 0), JSON.stringify(counted));
  // One queue, then its failure rate: the heavy queue's three timeouts.
  await page.selectOption('#throughput-queue', 'heavy');
  await page.waitForFunction(
    () => /in queue heavy: .*[1-9][\d,]* failed/.test(document.getElementById('throughput-caption')?.textContent || ''),
    null, WAIT);
  await page.click('button[data-action="chart-view"][data-view="rate"]');
  await page.waitForFunction(
    () => /^Failure rate per minute in queue heavy: [1-9][\d,]* of [1-9][\d,]* attempts failed \(\d+(\.\d)?%\)\.$/
      .test(document.getElementById('throughput-caption')?.textContent || ''),
    null, WAIT);
  assert.equal(await page.locator('button[data-view="rate"]').getAttribute('aria-pressed'), 'true');
  await page.locator('#throughput canvas').first().waitFor(WAIT);
  // Back to every queue's attempts for the views that follow.
  await page.click('button[data-action="chart-view"][data-view="counts"]');
  await page.selectOption('#throughput-queue', '');
  await page.waitForFunction(
    () => /^Attempts ended per minute: /.test(document.getElementById('throughput-caption')?.textContent || ''),
    null, WAIT);
}

async function pendingOrder(page, seeded) {
  step('pending order: due tasks in claim order, later ones by ETA, truncation said');
  await go(page, '#/pending/' + BACKLOG);
  assert.match(await text(page, '#pending-truncated'), /Showing the 100 oldest submitted of 106 pending tasks/);
  assert.equal(await page.locator('#pending li').count(), 99);
  const later = page.locator(`#scheduled li[data-id="${seeded.later.id}"]`);
  assert.match(await later.textContent(), /ETA in (59|60) min/);
  assert.match(await later.locator('time').getAttribute('title'), /\(Europe\/Berlin\) · \d{4}-\d\d-\d\dT[\d:.]+Z$/);
  await shoot(page, 'pending');
}

async function routes(page, seeded) {
  step('state tabs and task URLs; back and forward');
  await go(page, '#/');
  await page.click('#state-cards a[data-state="FAILED"]');
  await page.waitForFunction(() => location.hash === '#/tasks/failed', null, WAIT);
  await page.locator('#tasks').waitFor(WAIT);
  assert.equal(await text(page, '#tasks-heading'), 'Failed tasks');
  assert.equal(await page.getAttribute('#state-tabs a[aria-current="page"]', 'data-tab'), 'failed');
  const id = seeded.failed[0];
  await page.click(`#tasks tr[data-id="${id}"] a[href="#/task/${id}"]`);
  await page.waitForFunction((want) => location.hash === want, '#/task/' + id, WAIT);
  await page.locator(`#detail[data-id="${id}"]`).waitFor(WAIT);
  assert.match(await text(page, '#detail dd[data-field="error"]'), /timeout: exceeded the hard timeout/);
  assert.equal(await page.title(), 'Task ' + id + ' · taskq');
  await page.goBack();
  await page.locator('#tasks').waitFor(WAIT);
  assert.equal(await page.evaluate(() => location.hash), '#/tasks/failed');
  await page.goBack();
  await page.locator('#state-cards').waitFor(WAIT);
  assert.equal(await page.evaluate(() => location.hash), '#/');
  await page.goForward();
  await page.goForward();
  await page.locator(`#detail[data-id="${id}"]`).waitFor(WAIT);
  step('a task URL opened afresh; an unknown address');
  await page.reload();
  await page.locator(`#detail[data-id="${id}"]`).waitFor(WAIT);
  await shoot(page, 'task');
  await go(page, '#/no-such-view');
  assert.equal(await page.locator('#view-missing').isVisible(), true);
  await go(page, '#/task/00000000-0000-4000-8000-000000000000');
  assert.match(await text(page, '#task-body .empty'), /No task has the id/);
}

async function times(page, seeded) {
  step('relative times, with the absolute time and zone on hover');
  await go(page, '#/task/' + seeded.failed[0]);
  const created = page.locator('#detail dd[data-field="created"] time');
  assert.match(await created.textContent(), /ago|^now$/);
  assert.match(await created.getAttribute('title'), /\d{4}, \d\d:\d\d:\d\d.*(CES?T|GMT\+[12]) \(Europe\/Berlin\) · \d{4}-\d\d-\d\dT[\d:.]+Z$/);
}

/** Selects `selector`'s text, marks its node, and checks both survive two refreshes. */
async function selectionSurvives(page, selector) {
  const selected = await page.evaluate((sel) => {
    const node = document.querySelector(sel);
    node.dataset.mark = 'kept';
    node.__kept = true;
    const range = document.createRange();
    range.selectNodeContents(node);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    return getSelection().toString();
  }, selector);
  assert.ok(selected.length > 0);
  await refreshed(page, 2);
  const after = await page.evaluate((sel) => [getSelection().toString(), document.querySelector(sel).__kept === true], selector);
  assert.deepEqual(after, [selected, true], `${selector}: the selection and its node outlive refreshes`);
}

async function selection(page, seeded) {
  step('a text selection survives refreshes (unchanged nodes are not re-rendered)');
  await go(page, '#/task/' + seeded.failed[0]);
  await selectionSurvives(page, '#detail-id');
  await go(page, '#/tasks/failed');
  await selectionSurvives(page, `#tasks tr[data-id="${seeded.failed[1]}"] .error-text`);
  await page.evaluate(() => getSelection().removeAllRanges());
}

async function search(page, seeded) {
  step('search by id, by type, by error text; empty states');
  await go(page, '#/tasks');
  const rows = () => page.$$eval('#tasks tbody tr', (trs) => trs.map((tr) => tr.dataset.id));
  const searchFor = async (q) => {
    await page.fill('#filter-q', q);
    await page.waitForFunction((want) => decodeURIComponent(location.hash).includes('q=' + want) && !document.body.dataset.refreshing,
      q.replace(/ /g, '+'), WAIT);
    await refreshed(page);
  };
  const id = seeded.failed[2];
  await searchFor(id);
  assert.deepEqual(await rows(), [id], 'an id finds its task on any page');
  assert.match(await text(page, '#search-note'), /task with this id/);
  await page.press('#filter-q', 'Enter');
  await page.waitForFunction((want) => location.hash === want, '#/task/' + id, WAIT);
  await page.goBack();
  await searchFor('report_generation');
  assert.match(await text(page, '#search-note'), /Tasks of type report_generation/);
  const types = await page.$$eval('#tasks tbody tr .type', (cells) => cells.map((c) => c.textContent));
  assert.ok(types.length >= 3 && types.every((t) => t === 'report_generation'), types.join());
  await searchFor('hard timeout');
  assert.match(await text(page, '#search-note'), /contain “hard timeout”/);
  const found = await rows();
  assert.ok(seeded.failed.every((f) => found.includes(f)), 'every failure with that error is found');
  await searchFor('zzz no such text');
  assert.match(await text(page, '#tasks-body .empty'), /No tasks match these filters/);
  await searchFor('00000000-0000-4000-8000-000000000000');
  assert.match(await text(page, '#tasks-body .empty'), /No task has the id/);
  await page.click('#filter-clear');
  await page.waitForFunction(() => location.hash === '#/tasks', null, WAIT);
  await go(page, '#/tasks/running?queue=' + BACKLOG);
  assert.match(await text(page, '#tasks-body .empty'), /No tasks match these filters/);
}

async function bulk(page, api, seeded) {
  step('select across refreshes; bulk retry, cancel, delete; retry all failed');
  const [f1, f2, f3] = seeded.failed;
  // Paused, so retried tasks stay pending to be looked at.
  await api.post('/queues/heavy/pause');
  await go(page, '#/tasks/failed?queue=heavy');
  const box = (id) => page.locator(`#tasks tr[data-id="${id}"] input[data-action="select"]`);
  await box(f1).check();
  await box(f2).check();
  await refreshed(page, 2);
  assert.equal(await box(f1).isChecked(), true, 'a selection survives refreshes');
  assert.equal(await box(f2).isChecked(), true);
  assert.equal(await text(page, '#selection-count'), '2 selected');
  await shoot(page, 'tasks');
  const flashed = (pattern) => page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#flash').textContent),
    pattern.source, WAIT);
  await page.click('#bulk-retry');
  await flashed(/^retry: 2 of 2 done/);
  for (const id of [f1, f2]) assert.equal((await api.get('/tasks/' + id)).state, 'PENDING');
  await go(page, '#/tasks/pending?queue=heavy');
  await box(f1).check();
  await box(f2).check();
  await page.click('#bulk-cancel');
  await flashed(/^cancel: 2 of 2 done/);
  for (const id of [f1, f2]) assert.equal((await api.get('/tasks/' + id)).state, 'CANCELLED');
  await go(page, '#/tasks/cancelled?queue=heavy');
  await page.check('#select-page');
  await page.click('#bulk-delete');
  await flashed(/^delete: \d+ of \d+ done$/);
  for (const id of [f1, f2]) assert.equal(await api.status('/tasks/' + id), 404);
  await go(page, '#/tasks/failed?queue=heavy');
  assert.match(await text(page, '#retry-all'), /^Retry all 1 failed$/);
  await page.click('#retry-all');
  await flashed(/^retry all: 1 of 1 done/);
  assert.equal((await api.get('/tasks/' + f3)).state, 'PENDING');
  await api.post('/queues/heavy/resume');
}

async function oneRefreshAtATime(page) {
  step('one refresh in flight on a slow server; interval; pause');
  let inFlight = 0;
  let most = 0;
  let calls = 0;
  const slow = async (route) => {
    calls += 1;
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    inFlight -= 1;
    await route.continue().catch(() => {});
  };
  await page.selectOption('#interval', '1000');
  await page.route('**/api/queues', slow);
  while (calls < 3) await page.waitForTimeout(250);
  await page.unroute('**/api/queues', slow);
  assert.equal(most, 1, 'a 2.5 s answer and a 1 s interval: still one refresh at a time');
  await page.selectOption('#interval', '0');
  await page.waitForFunction(() => !document.body.dataset.refreshing, null, WAIT);
  let requests = 0;
  const count = (request) => { if (request.url().includes('/api/')) requests += 1; };
  page.on('request', count);
  await page.waitForTimeout(3000);
  assert.equal(requests, 0, 'paused: no calls');
  await page.selectOption('#interval', '1000');
  await refreshed(page, 2);
  page.off('request', count);
  assert.ok(requests > 0);
}

async function banners(page) {
  step('a wrong token: the unauthorised banner, data marked stale');
  await go(page, '#/');
  await page.fill('#token', 'wrong-token');
  await page.click('#token-form button');
  await page.locator('#banner[data-kind="unauthorised"]').waitFor({ state: 'visible', ...WAIT });
  assert.match(await text(page, '#banner'), /Unauthorised\..*refused the API token/);
  assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), true);
  assert.match(await text(page, '#updated'), /^stale/);
  await shoot(page, 'unauthorised');
  await page.fill('#token', TOKEN);
  await page.click('#token-form button');
  await page.locator('#banner').waitFor({ state: 'hidden', ...WAIT });

  step('the server unreachable: the disconnected banner, then back');
  const refuse = (route) => route.abort('connectionrefused');
  await page.route('**/api/**', refuse);
  await page.locator('#banner[data-kind="disconnected"]').waitFor({ state: 'visible', ...WAIT });
  assert.match(await text(page, '#banner'), /Disconnected\..*cannot be reached.*may be out of date/);
  await shoot(page, 'disconnected');
  await page.unroute('**/api/**', refuse);
  await page.locator('#banner').waitFor({ state: 'hidden', ...WAIT });
  assert.equal(await page.evaluate(() => document.body.classList.contains('stale')), false);
}

const VIEWS = (seeded) => [
  ['overview', '#/'], ['tasks', '#/tasks/failed'], ['task', '#/task/' + seeded.failed[2]],
  ['pending', '#/pending/' + BACKLOG], ['schedules', '#/schedules'], ['workers', '#/workers'], ['submit', '#/submit'],
];

async function layoutAndAccess(page, seeded) {
  step('every view: no sideways scrolling at 390 px; axe-core finds nothing serious');
  await page.setViewportSize(PHONE);
  for (const [name, hash] of VIEWS(seeded)) {
    await go(page, hash);
    await assertNoSideScroll(page, name + ' at 390 px');
    await shoot(page, name + '-390');
  }
  await go(page, '#/');
  await assertAccessible(page, 'overview at 390 px');
  await page.setViewportSize(DESKTOP);
  for (const [name, hash] of VIEWS(seeded)) {
    await go(page, hash);
    await assertAccessible(page, name);
    await assertNoSideScroll(page, name);
    if (!['tasks', 'task', 'pending'].includes(name)) await shoot(page, name);
  }
}

/** A task's attempts table, its tags and metadata, and the list by tag and by metadata. */
async function history(page, api, seeded) {
  step('history: the attempts table, tags, metadata and the list by tag and metadata');
  const tagged = await api.post('/tasks', {
    task_type: 'greet', params: { name: 'tagged' }, tags: ['browser', 'team:ops'], metadata: { ticket: 7 },
  });
  await api.until(tagged.id, (t) => t.state === 'FINISHED', 'FINISHED');
  await go(page, '#/task/' + tagged.id);
  const finished = page.locator('#attempts tbody tr[data-outcome="finished"]');
  await finished.waitFor(WAIT);
  assert.equal(await page.locator('#attempts tbody tr').count(), 1);
  assert.notEqual((await finished.locator('td[data-label="worker"]').textContent()).trim(), '—');
  assert.match(await finished.locator('td[data-label="duration"]').textContent(), /\d/);
  assert.equal(await page.locator('dd[data-field="tags"] a.tag').count(), 2);
  assert.match(await page.locator('dd[data-field="metadata"]').textContent(), /ticket/);
  // A failed task's attempt shows its error.
  await go(page, '#/task/' + seeded.failed[0]);
  const failedRow = page.locator('#attempts tbody tr[data-outcome="failed"]');
  await failedRow.waitFor(WAIT);
  assert.match(await failedRow.locator('td[data-label="error"]').textContent(), /timeout/);
  // A tag links to the tasks carrying it.
  await go(page, '#/task/' + tagged.id);
  await page.locator('dd[data-field="tags"] a.tag', { hasText: 'team:ops' }).click();
  await page.locator(`#tasks tr[data-id="${tagged.id}"]`).waitFor(WAIT);
  assert.equal(await page.locator('#tasks tbody tr').count(), 1);
  assert.equal(await page.inputValue('#filter-tag'), 'team:ops');
  // The metadata filter finds it by a pair (`7` the number).
  await go(page, '#/tasks?meta=ticket:7');
  await page.locator(`#tasks tr[data-id="${tagged.id}"]`).waitFor(WAIT);
  assert.equal(await page.locator('#tasks tbody tr').count(), 1);
  assert.equal(await page.inputValue('#filter-meta'), 'ticket:7');
}

export async function operatorScenarios(page, api) {
  step('seed: a backlog over one page, a trickle, three failures');
  const seeded = await seed(api);
  await overview(page, api, seeded);
  await pendingOrder(page, seeded);
  await routes(page, seeded);
  await times(page, seeded);
  await selection(page, seeded);
  await search(page, seeded);
  await history(page, api, seeded);
  await layoutAndAccess(page, seeded);
  await bulk(page, api, seeded);
  await oneRefreshAtATime(page);
  await banners(page);
  for (const queue of [BACKLOG, 'trickle']) await api.post('/queues/' + queue + '/purge');
}
