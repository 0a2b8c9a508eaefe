// The pending order of one queue (#/pending/<queue>): the due tasks in the
// order workers claim them (higher priority first, then lower seq), which
// the operator can change by dragging or with the buttons, and the tasks
// scheduled for later by ETA. The list reads the oldest submitted pending
// tasks (at most one API page), and says so when the queue holds more.

import { api, oldestPending, MAX_PAGE } from './api.js';
import { $, el, actionButton, empty, number, shortId, summary, timeEl } from './dom.js';
import { pendingHref, taskHref } from './routes.js';
import { app } from './state.js';

/** The queue a pending route shows: its own, or the first with pending tasks. */
export function queueOf(route) {
  if (route.queue) return route.queue;
  const busy = app.queues.find((q) => q.pending + q.scheduled > 0);
  return busy ? busy.queue : (app.queues[0] ? app.queues[0].queue : '');
}

export async function load(route) {
  const queue = queueOf(route);
  const stats = app.queues.find((q) => q.queue === queue);
  const total = stats ? stats.pending + stats.scheduled : 0;
  const tasks = await oldestPending(queue, total);
  const now = Date.now();
  const claimOrder = (a, b) => (b.priority - a.priority) || (a.seq - b.seq) || (a.id < b.id ? -1 : 1);
  const due = tasks.filter((t) => Date.parse(t.scheduled_at) <= now).sort(claimOrder);
  const later = tasks.filter((t) => Date.parse(t.scheduled_at) > now)
    .sort((a, b) => Date.parse(a.scheduled_at) - Date.parse(b.scheduled_at) || claimOrder(a, b));
  return { queue, total, loaded: tasks.length, due, later };
}

export function render(route, data) {
  const queue = data ? data.queue : queueOf(route);
  const parts = [
    el('h2', { id: 'pending-heading' }, 'Pending order' + (queue ? ' of ' + queue : '')),
    queueLinks(queue),
  ];
  if (!data) return parts.concat(el('p', { className: 'muted' }, 'Loading…'));
  if (!data.queue) return parts.concat(empty('No queues yet.'));
  if (data.total > data.loaded) {
    parts.push(el('p', { className: 'note', id: 'pending-truncated', role: 'note' },
      'Showing the ' + number(data.loaded) + ' oldest submitted of ' + number(data.total)
      + ' pending tasks (the API gives at most ' + MAX_PAGE + ' per page). A newer task with a higher priority, '
      + 'or moved to the front, can run before these.'));
  }
  parts.push(el('h3', {}, 'Due now, next to run first (' + number(data.due.length) + ')'),
    el('p', { className: 'hint' }, 'Drag a task onto another to take its place, or use the buttons; ids stay.'),
    data.due.length
      ? el('ol', { id: 'pending', className: 'pending' }, ...data.due.map((t, i) => dueItem(data.due, t, i)))
      : empty('No task of ' + data.queue + ' is due.'),
    el('h3', {}, 'Scheduled for later, by ETA (' + number(data.later.length) + ')'),
    data.later.length
      ? el('ol', { id: 'scheduled', className: 'pending' }, ...data.later.map(laterItem))
      : empty('No task of ' + data.queue + ' is scheduled for later.'));
  return parts;
}

function queueLinks(current) {
  if (!app.queues.length) return null;
  return el('nav', { className: 'tabs', id: 'pending-queues', 'aria-label': 'queues' },
    ...app.queues.map((q) => el('a', {
      href: pendingHref(q.queue), dataset: { key: q.queue, queue: q.queue },
      'aria-current': q.queue === current ? 'page' : undefined,
    }, q.queue, ' ', el('span', { className: 'tab-count' }, number(q.pending + q.scheduled)))));
}

function describe(task) {
  return [el('a', { href: taskHref(task.id), className: 'mono', title: task.id }, shortId(task.id)), ' ',
    el('strong', {}, task.task_type), ' ', el('span', { className: 'params' }, summary(task.params)),
    task.priority !== 5 ? el('span', { className: 'muted' }, ' · priority ' + task.priority) : null];
}

function dueItem(tasks, task, i) {
  const move = (label, action, extra, props) => actionButton(label, action, { id: task.id, ...extra }, props);
  return el('li', { dataset: { key: task.id, id: task.id }, draggable: 'true' },
    el('span', { className: 'grip', 'aria-hidden': 'true' }, '⠿'), ' ',
    el('span', { className: 'text' }, ...describe(task), ' · ', timeEl(task.scheduled_at, 'due ')),
    el('span', { className: 'actions' },
      move('↑', 'move-up', { before: i > 0 ? tasks[i - 1].id : '' }, { title: 'move up', 'aria-label': 'move task ' + task.id + ' up', disabled: i === 0 }),
      move('↓', 'move-down', { after: i < tasks.length - 1 ? tasks[i + 1].id : '' }, { title: 'move down', 'aria-label': 'move task ' + task.id + ' down', disabled: i === tasks.length - 1 }),
      move('front', 'move-front', {}, { 'aria-label': 'move task ' + task.id + ' to the front' }),
      move('back', 'move-back', {}, { 'aria-label': 'move task ' + task.id + ' to the back' })));
}

function laterItem(task) {
  return el('li', { dataset: { key: task.id, id: task.id } },
    el('span', { className: 'text' }, ...describe(task), ' · ', el('strong', {}, timeEl(task.scheduled_at, 'ETA '))));
}

const reorder = (id, body) => api('POST', '/tasks/' + encodeURIComponent(id) + '/reorder', body);

export const actions = {
  'move-up': (data) => reorder(data.id, { to: 'before', task: data.before }),
  // Down: the next one moves before this one.
  'move-down': (data) => reorder(data.after, { to: 'before', task: data.id }),
  'move-front': (data) => reorder(data.id, { to: 'front' }),
  'move-back': (data) => reorder(data.id, { to: 'back' }),
};

// ---- dragging --------------------------------------------------------------

/** The reorder call that puts `dragged` where `target` is now. */
function dropMove(ids, draggedId, targetId) {
  const from = ids.indexOf(draggedId);
  const to = ids.indexOf(targetId);
  if (from < 0 || to < 0 || from === to) return null;
  if (to === 0) return { to: 'front' };
  if (to === ids.length - 1 && from < to) return { to: 'back' };
  // Moving up: before the target; moving down: before the one after it.
  return { to: 'before', task: from > to ? ids[to] : ids[to + 1] };
}

/** Drag and drop on the due list, by delegation on the view. */
export function bindDragging(container) {
  const item = (event) => event.target.closest && event.target.closest('#pending li');
  container.addEventListener('dragstart', (event) => {
    const li = item(event);
    if (!li) return;
    app.dragId = li.dataset.id;
    event.dataTransfer.effectAllowed = 'move';
    event.dataTransfer.setData('text/plain', li.dataset.id);
    li.classList.add('dragging');
  });
  container.addEventListener('dragend', (event) => {
    const li = item(event);
    if (li) li.classList.remove('dragging');
    app.dragId = null;
  });
  container.addEventListener('dragover', (event) => {
    const li = item(event);
    if (!li || !app.dragId) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'move';
    li.classList.add('drop-target');
  });
  container.addEventListener('dragleave', (event) => {
    const li = item(event);
    if (li) li.classList.remove('drop-target');
  });
  container.addEventListener('drop', async (event) => {
    const li = item(event);
    if (!li) return;
    event.preventDefault();
    li.classList.remove('drop-target');
    const dragged = app.dragId || event.dataTransfer.getData('text/plain');
    app.dragId = null;
    const ids = [...$('pending').querySelectorAll('li')].map((node) => node.dataset.id);
    const move = dropMove(ids, dragged, li.dataset.id);
    if (!move) return;
    try {
      await reorder(dragged, move);
      app.flash('moved: done');
    } catch (err) {
      app.flash('move: ' + err.message, true);
    }
    app.refresh();
  });
}
