// One task at its own address (#/task/<id>): state, error, result, params,
// progress, times and the actions its state allows; for a workflow step,
// its workflow, parents and input.

import { api, isTaskId } from './api.js';
import { el, empty, json, number, parseTime, local, progressBar, shortId, span, stateBadge, timeEl } from './dom.js';
import { pendingHref, taskHref, tasksHref, workflowHref } from './routes.js';
import { rowActions, tagList } from './tasks.js';

export async function load(route) {
  if (!isTaskId(route.id)) return { missing: '“' + route.id + '” is not a task id (a UUID).' };
  try {
    const task = await api('GET', '/tasks/' + encodeURIComponent(route.id));
    return { task, workflow: task.step ? await workflowOf(task.step.workflow) : null };
  } catch (err) {
    if (err.status === 404) return { missing: 'No task has the id ' + route.id + ': it was deleted, or never existed.' };
    throw err;
  }
}

/** A step's workflow, to name its parents; null if it is gone meanwhile. */
async function workflowOf(id) {
  try {
    return await api('GET', '/workflows/' + encodeURIComponent(id));
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

/** What a step receives as its params, in words. */
const INPUTS = {
  params: 'its own params (below)',
  result: 'its parent\'s result',
  results: 'its parents\' results, as an array in the parents\' order',
  ends: 'how each parent ended, as an array in the parents\' order',
};

/** The rows a workflow step adds: its workflow, parents, input and what it waits for. */
function stepRows(task, workflow) {
  const step = task.step;
  if (!step) return [];
  const names = new Map(((workflow && workflow.steps) || []).map((s) => [s.id, s.step ? s.step.name : s.id]));
  const parents = step.parents || [];
  return [
    ['workflow', [el('a', { href: workflowHref(step.workflow), id: 'detail-workflow' }, 'step “' + step.name + '” of workflow ' + shortId(step.workflow)),
      workflow ? [' ', stateBadge(workflow.state)] : '']],
    ['parents', parents.length
      ? el('ul', { className: 'parents' }, ...parents.map((p) => el('li', { dataset: { key: p } },
        el('a', { href: taskHref(p) }, names.get(p) || shortId(p)))))
      : 'none: a root step'],
    ['input', (INPUTS[step.input] || String(step.input))
      + (parents.length ? (step.runs === 'completed' ? '; runs once its parents ended, whatever the outcome' : '; runs once its parents finished') : '')],
    ...(task.state === 'WAITING' ? [['waiting on', step.waiting_on + ' of ' + parents.length + ' parents']] : []),
  ];
}

/** A time shown both ways: relative (hover for zone) and absolute. */
function moment(value, prefix) {
  const date = parseTime(value);
  if (!date) return el('span', { className: 'muted' }, '—');
  return [timeEl(value, prefix), ' ', el('span', { className: 'muted' }, local(date))];
}

function between(from, to) {
  const a = parseTime(from);
  const b = to === 'now' ? new Date() : parseTime(to);
  return a && b ? span(b - a) : null;
}

export function render(route, data) {
  const back = el('p', {}, el('a', { href: tasksHref({}) }, '← all tasks'));
  if (!data) return [back, el('h2', {}, 'Task'), el('p', { className: 'muted' }, 'Loading…')];
  if (data.missing) {
    return [back, el('h2', {}, 'Task'), empty(data.missing)];
  }
  const task = data.task;
  const scheduled = task.state === 'PENDING' && Date.parse(task.scheduled_at) > Date.now();
  const due = task.state === 'PENDING'
    ? [moment(task.scheduled_at, 'due '),
      ' · ', el('a', { href: pendingHref(task.queue) }, 'pending order of ' + task.queue)]
    : moment(task.scheduled_at);
  const waited = between(task.scheduled_at, task.started_at);
  const ran = task.started_at
    ? (task.finished_at ? between(task.started_at, task.finished_at)
      : task.state === 'RUNNING' ? between(task.started_at, 'now') + ' so far' : null)
    : null;
  // A unique task's key, the states in which it holds it, and until when.
  const uniqueKey = (unique) => unique
    ? [el('code', {}, unique.key),
      ' held while ' + unique.states.join(' or '),
      ...(unique.until ? [' until ', moment(unique.until)] : [])]
    : '—';
  const rows = [
    ['state', [stateBadge(task.state, scheduled), task.cancel_requested && task.state === 'RUNNING' ? ' (cancel requested)' : '']],
    ['type', task.task_type],
    ...stepRows(task, data.workflow),
    ['queue', el('a', { href: tasksHref({ filters: { queue: task.queue } }) }, task.queue)],
    ['priority', String(task.priority)],
    ['attempts', task.attempt + ' of ' + (task.max_retries + 1)],
    ...(task.snoozes ? [['snoozes', String(task.snoozes) + ' (each ran again later without spending an attempt)']] : []),
    ...(task.expires_at ? [['deadline to start', moment(task.expires_at)]] : []),
    ['progress', progressBar(task)],
    ['error', task.error
      ? [el('pre', { className: 'error-text' }, task.error.kind + ': ' + task.error.message),
        el('p', { className: 'hint' }, 'The last failed attempt\'s error (kept after a successful retry); each attempt\'s is in the history below.')]
      : '—'],
    ['result', task.result === null || task.result === undefined ? '—' : json(task.result)],
    ['params', json(task.params)],
    ['created', moment(task.created_at)],
    [task.state === 'PENDING' ? 'ETA' : 'scheduled', due],
    ['started', moment(task.started_at)],
    ['waited', waited || '—'],
    ['finished', moment(task.finished_at)],
    ['run time', ran || '—'],
    ['worker', task.worker_id || '—'],
    ['lease until', task.lease_until ? moment(task.lease_until) : '—'],
    ['timeout', task.timeout == null ? 'the task type\'s' : span(task.timeout * 1000)],
    ['soft timeout', task.soft_timeout == null ? 'the task type\'s' : span(task.soft_timeout * 1000)],
    ['unique key', uniqueKey(task.unique)],
    ['tags', tagList(task.tags) || '—'],
    ['metadata', task.metadata && Object.keys(task.metadata).length ? json(task.metadata) : '—'],
    ['schedule', task.schedule
      ? el('a', { href: tasksHref({ filters: { schedule: task.schedule } }), id: 'detail-schedule' }, task.schedule)
      : '—'],
  ];
  return [
    back,
    el('h2', { id: 'detail-heading' }, 'Task ', el('code', { id: 'detail-id' }, task.id)),
    el('div', { className: 'detail-actions', dataset: { key: 'actions:' + task.state + task.cancel_requested } }, rowActions(task)),
    el('dl', { id: 'detail', dataset: { id: task.id, state: task.state } }, ...rows.flatMap(([name, value]) =>
      [el('dt', {}, name), el('dd', { dataset: { field: name } }, ...[value].flat())])),
    history(task),
  ];
}

/** Every ended attempt, oldest first: number, worker, start, duration, outcome and error. */
function history(task) {
  const attempts = task.attempts || [];
  const heading = el('h3', { id: 'attempts-heading' }, 'Attempts');
  if (!attempts.length) return el('section', { dataset: { key: 'attempts:0' } }, heading, empty('No attempt has ended yet.'));
  const cell = (label, ...children) => el('td', { dataset: { label } }, ...children);
  // Past the bound the oldest entries are dropped: the first kept says how many came before.
  const dropped = Math.max(0, (attempts[0].ordinal || 0) - 1);
  const note = dropped ? el('p', { id: 'attempts-dropped', className: 'hint' },
    number(dropped) + (dropped === 1 ? ' earlier attempt end was' : ' earlier attempt ends were')
      + ' dropped; the last ' + attempts.length + ' are kept.') : null;
  return el('section', { dataset: { key: 'attempts:' + attempts.length + ':' + dropped } }, heading, note,
    el('div', { className: 'table-wrap' }, el('table', { id: 'attempts', className: 'cards-narrow' },
      el('thead', {}, el('tr', {}, ...['#', 'worker', 'started', 'duration', 'outcome', 'error']
        .map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...attempts.map((a, i) => el('tr', { dataset: { key: String(i), outcome: a.outcome } },
        cell('#', String(a.attempt)),
        cell('worker', a.worker_id || '—'),
        cell('started', a.started_at ? timeEl(a.started_at) : '—'),
        cell('duration', between(a.started_at, a.ended_at) || '—'),
        cell('outcome', el('span', { className: 'outcome outcome-' + a.outcome }, a.outcome)),
        cell('error', a.error ? el('span', { className: 'error-text' }, a.error.kind + ': ' + a.error.message) : '—')))))));
}
