// A workflow in the dashboard: submitted through the REST API, drawn as a
// graph (a column per depth, an edge per parent), each step a link to its
// task whose page links back and names its parents; WAITING in the
// overview's cards and the state tabs; the view at 390 px and under
// axe-core; cancelled from its button; a failed step's dependent offers
// no retry of its own.
import assert from 'node:assert/strict';
import {
  WAIT, DESKTOP, PHONE, step, go, shoot, assertNoSideScroll, assertAccessible,
} from './support.mjs';

/**
 * Two roots (a slow count that keeps its dependents waiting for the whole
 * scenario, and a quick greeting), a step after both, and one after that:
 * depths 0, 0, 1, 2.
 */
const SPEC = {
  steps: [
    { name: 'slow root', task: 'slow_count', params: { steps: 200, step_ms: 300 } },
    { name: 'quick root', task: 'greet', params: { name: 'workflow' } },
    { name: 'after both', task: 'greet', after: ['slow root', 'quick root'], input: 'params', params: { name: 'joined' } },
    { name: 'last', task: 'greet', after: ['after both'], input: 'params', params: { name: 'end' } },
  ],
};

export async function workflowScenario(page, api) {
  step('workflow: submitted through the API, drawn as a graph');
  const created = await api.post('/workflows', SPEC);
  assert.equal(created.steps.length, 4);
  const id = created.id;
  const byName = new Map(created.steps.map((s) => [s.step.name, s]));
  await go(page, '#/workflows/' + id);
  const box = (name) => page.locator(`#workflow-graph .wf-step[data-name="${name}"]`);
  await box('last').waitFor(WAIT);
  assert.equal(await page.locator('#workflow-graph .wf-step').count(), 4);
  assert.equal(await page.locator('#workflow-graph path.wf-edge').count(), 3);
  const depth = async (name) => box(name).getAttribute('data-depth');
  assert.deepEqual(
    await Promise.all(['slow root', 'quick root', 'after both', 'last'].map(depth)),
    ['0', '0', '1', '2'], 'a column per depth');
  // Columns left to right, edges from a parent's right side to a child's left.
  const [root, join, last] = await Promise.all(['slow root', 'after both', 'last'].map((n) => box(n).boundingBox()));
  assert.ok(root.x < join.x && join.x < last.x, 'deeper steps sit further right');
  assert.match(await box('after both').textContent(), /after both\s*greet\s*WAITING/);
  await page.locator('#workflow-graph .wf-step[data-name="quick root"][data-state="FINISHED"]').waitFor(WAIT);
  await page.locator('#workflow-graph .wf-step[data-name="slow root"][data-state="RUNNING"]').waitFor(WAIT);
  assert.equal(await box('after both').getAttribute('data-state'), 'WAITING');
  assert.equal(await page.textContent('#workflow-state'), 'RUNNING');
  assert.equal(await page.locator('#workflow-steps tbody tr').count(), 4, 'the steps as a table too');
  // The count of parents not yet ended is the backend's; the page shows it as stored.
  const joinId = byName.get('after both').id;
  const stored = (await api.get('/tasks/' + joinId)).step.waiting_on;
  assert.match(await page.locator(`#workflow-steps tr[data-id="${joinId}"]`).textContent(),
    new RegExp(`after both\\s*greet\\s*WAITING\\s*${stored}\\s*slow root, quick root`));
  await shoot(page, 'workflow');
  await assertAccessible(page, 'workflow');
  await assertNoSideScroll(page, 'workflow');

  step('workflow at 390 px: the graph scrolls inside its box, not the page');
  await page.setViewportSize(PHONE);
  await go(page, '#/workflows/' + id);
  await assertNoSideScroll(page, 'workflow at 390 px');
  await shoot(page, 'workflow-390');
  await assertAccessible(page, 'workflow at 390 px');
  await page.setViewportSize(DESKTOP);

  step('a step opens its task, which links back and names its parents');
  await box('after both').click();
  await page.waitForFunction((want) => location.hash === want, '#/task/' + joinId, WAIT);
  await page.locator('#detail-workflow').waitFor(WAIT);
  assert.equal(await page.getAttribute('#detail-workflow', 'href'), '#/workflows/' + id);
  assert.match(await page.textContent('#detail-workflow'), /step “after both” of workflow/);
  const parents = page.locator('#detail dd[data-field="parents"] a');
  assert.deepEqual(await parents.allTextContents(), ['slow root', 'quick root']);
  assert.match(await page.textContent('#detail dd[data-field="input"]'), /its own params/);
  const waitingOn = (await api.get('/tasks/' + joinId)).step.waiting_on;
  assert.equal(await page.textContent('#detail dd[data-field="waiting on"]'), waitingOn + ' of 2 parents');
  await assertAccessible(page, 'a workflow step\'s task');
  await page.click('#detail-workflow');
  await page.locator('#workflow-graph').waitFor(WAIT);

  step('WAITING in the overview and the state tabs');
  const waiting = (await api.get('/tasks?state=WAITING&page_size=1')).total;
  assert.ok(waiting >= 2, `${waiting} waiting steps`);
  await go(page, '#/');
  assert.equal((await page.textContent('#state-cards a[data-state="WAITING"] .count')).replace(/,/g, ''), String(waiting));
  await page.click('#state-cards a[data-state="WAITING"]');
  await page.waitForFunction(() => location.hash === '#/tasks/waiting', null, WAIT);
  await page.locator(`#tasks tr[data-id="${joinId}"][data-state="WAITING"]`).waitFor(WAIT);
  const now = (await api.get('/tasks/' + joinId)).step.waiting_on;
  assert.match(await page.locator(`#tasks tr[data-id="${joinId}"]`).textContent(),
    new RegExp(`waits for ${now} parents?`));

  step('cancel the workflow from its button');
  await go(page, '#/workflows/' + id);
  await page.click('#workflow-cancel');
  const slowId = byName.get('slow root').id;
  await api.until(slowId, (t) => t.state === 'CANCELLED', 'CANCELLED');
  await page.locator('#workflow-graph .wf-step[data-name="slow root"][data-state="CANCELLED"]').waitFor(WAIT);

  step('a failed step: its dependent is cancelled as parent_failed, and only the failed step offers retry');
  // report_generation has a one-second timeout: 1.5 s of work fails it.
  const failing = await api.post('/workflows', { steps: [
    { name: 'fails', task: 'report_generation', params: { title: 'wf', render_ms: 1500 } },
    { name: 'dependent', task: 'greet', after: ['fails'], input: 'params', params: { name: 'never' } },
  ] });
  const [fails, dependent] = failing.steps;
  await api.until(dependent.id, (t) => t.state === 'CANCELLED', 'CANCELLED');
  assert.equal((await api.get('/tasks/' + dependent.id)).error.kind, 'parent_failed');
  await go(page, '#/workflows/' + failing.id);
  assert.equal(await page.textContent('#workflow-state'), 'FAILED');
  await go(page, '#/task/' + dependent.id);
  await page.locator('#detail-workflow').waitFor(WAIT);
  assert.equal(await page.locator('.detail-actions button.retry').count(), 0, 'no retry on a parent_failed step');
  await go(page, '#/task/' + fails.id);
  await page.locator('.detail-actions button.retry').waitFor(WAIT);

  step('an unknown workflow says so');
  await go(page, '#/workflows/00000000-0000-7000-8000-000000000000');
  assert.match(await page.textContent('#workflows-body .empty'), /No workflow has the id/);
}
