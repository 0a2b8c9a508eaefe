// The task list: tabs per state with counts, filters and search, a page of
// tasks with their actions, and the selection the bulk actions act on.

import { api, listTasks, isTaskId, MAX_PAGE } from './api.js';
import { $, el, actionButton, empty, number, progressBar, shortId, stateBadge, timeEl, STATES } from './dom.js';
import { apiFilters, taskHref, tasksHref, TASK_FILTERS } from './routes.js';
import { app } from './state.js';
import { bulkBar, noteSeen, selectBox } from './bulk.js';

/**
 * How many pages of 100 a text search reads: the server has no text
 * search, so the page looks through the newest tasks that match the
 * other filters and says how many it read.
 */
export const SEARCH_PAGES = 5;

/** Everything a text search looks in. */
function haystack(task) {
  return [task.id, task.task_type, task.queue, JSON.stringify(task.params), (task.tags || []).join(' '),
    JSON.stringify(task.metadata || {}),
    task.error ? task.error.kind + ': ' + task.error.message : '',
    task.result == null ? '' : JSON.stringify(task.result),
    task.progress ? task.progress.message : ''].join('\n').toLowerCase();
}

export async function load(route) {
  const filters = apiFilters(route);
  const q = route.filters.q.trim();
  if (q && isTaskId(q)) {
    try {
      const task = await api('GET', '/tasks/' + encodeURIComponent(q));
      return { mode: 'id', tasks: [task], total: 1, totalPages: 1 };
    } catch (err) {
      if (err.status === 404) return { mode: 'id', tasks: [], total: 0, totalPages: 1, missing: q };
      throw err;
    }
  }
  const type = q && !filters.task_type && app.types.find((t) => t.name.toLowerCase() === q.toLowerCase());
  if (type) filters.task_type = type.name;
  else if (q) return textSearch(route, filters, q.toLowerCase());
  const page = await listTasks(filters, route.page, route.size);
  return { mode: type ? 'type' : 'list', type: type && type.name, tasks: page.tasks, total: page.total, totalPages: page.total_pages };
}

async function textSearch(route, filters, needle) {
  // By id: a task submitted meanwhile shifts the pages by one.
  const scanned = new Map();
  let of = 0;
  for (let page = 1; page <= SEARCH_PAGES; page++) {
    const found = await listTasks(filters, page, MAX_PAGE);
    of = found.total;
    for (const task of found.tasks) scanned.set(task.id, task);
    if (page >= found.total_pages) break;
  }
  const matches = [...scanned.values()].filter((t) => haystack(t).includes(needle));
  const start = (route.page - 1) * route.size;
  return {
    mode: 'text', matches, scanned: scanned.size, of,
    tasks: matches.slice(start, start + route.size), total: matches.length,
    totalPages: Math.ceil(matches.length / route.size),
  };
}

/** The heading and the state tabs, above the (static) filter form. */
export function renderHead(route) {
  const heading = route.state ? route.state.toLowerCase() + ' tasks' : 'All tasks';
  return [el('h2', { id: 'tasks-heading' }, heading.charAt(0).toUpperCase() + heading.slice(1)), stateTabs(route)];
}

export function render(route, data) {
  if (data) noteSeen(data.tasks);
  return [
    data ? searchNote(route, data) : null,
    data ? bulkBar(route, data) : null,
    data ? table(route, data) : el('p', { className: 'muted' }, 'Loading…'),
    data ? pager(route, data) : null,
  ];
}

function stateTabs(route) {
  const counts = app.counts;
  const all = STATES.reduce((sum, s) => sum + (counts[s] || 0), 0);
  const keep = { filters: route.filters, size: route.size };
  return el('nav', { id: 'state-tabs', className: 'tabs', 'aria-label': 'task states' },
    ...[['', 'all', all], ...STATES.map((s) => [s, s.toLowerCase(), counts[s]])].map(([state, name, count]) =>
      el('a', {
        href: tasksHref({ ...keep, state }), dataset: { key: name, tab: name },
        'aria-current': route.state === state ? 'page' : undefined,
      }, name.charAt(0).toUpperCase() + name.slice(1), ' ',
      el('span', { className: 'tab-count' }, count === undefined ? '…' : number(count)))));
}

function searchNote(route, data) {
  const q = route.filters.q.trim();
  let text = null;
  if (data.mode === 'id') text = data.missing ? null : 'The task with this id (other filters do not apply).';
  else if (data.mode === 'type') text = 'Tasks of type ' + data.type + '.';
  else if (data.mode === 'text') {
    text = number(data.total) + ' of the ' + number(data.scanned)
      + (data.scanned < data.of ? ' newest' : '') + ' tasks matching the other filters contain “' + q + '”'
      + (data.scanned < data.of
        ? ' (' + number(data.of) + ' match the filters; the server has no text search, so only the newest '
          + number(data.scanned) + ' were searched: narrow the filters to search further back).'
        : '.');
  }
  return text ? el('p', { className: 'note', id: 'search-note', role: 'note' }, text) : null;
}

function cell(label, ...children) { return el('td', { dataset: { label } }, ...children); }

/** The time that matters for a task in its state. */
function whenOf(task) {
  if (task.state === 'PENDING') return timeEl(task.scheduled_at, 'due ');
  if (task.state === 'WAITING') {
    const n = task.step ? task.step.waiting_on : 0;
    return el('span', { className: 'muted' }, 'waits for ' + n + (n === 1 ? ' parent' : ' parents'));
  }
  if (task.state === 'RUNNING') return timeEl(task.started_at, 'started ');
  return timeEl(task.finished_at, 'ended ');
}

export function rowActions(task) {
  const data = { id: task.id };
  const actions = [];
  if (task.state === 'PENDING' || task.state === 'WAITING' || (task.state === 'RUNNING' && !task.cancel_requested)) {
    actions.push(actionButton('cancel', 'cancel', data, { 'aria-label': 'cancel task ' + task.id }));
  }
  // A step its parent's failure cancelled runs again when that parent is
  // retried; the server refuses retrying it alone.
  const parentFailed = task.error && task.error.kind === 'parent_failed';
  if ((task.state === 'FAILED' || task.state === 'CANCELLED' || task.state === 'EXPIRED') && !parentFailed) {
    actions.push(actionButton('retry', 'retry', data, { 'aria-label': 'retry task ' + task.id }));
  }
  if (task.state === 'FINISHED' || task.state === 'FAILED' || task.state === 'CANCELLED' || task.state === 'EXPIRED') {
    actions.push(actionButton('delete', 'delete', data, { 'aria-label': 'delete task ' + task.id }));
  }
  return el('div', { className: 'actions' }, ...actions);
}

function taskRow(task) {
  const scheduled = task.state === 'PENDING' && Date.parse(task.scheduled_at) > Date.now();
  return el('tr', { className: 'task', dataset: { key: task.id, id: task.id, state: task.state, href: taskHref(task.id) } },
    el('td', { className: 'select' }, selectBox(task)),
    el('td', { className: 'id', dataset: { label: 'id' } },
      el('a', { href: taskHref(task.id), className: 'mono', title: task.id }, shortId(task.id))),
    el('td', { className: 'wide', dataset: { label: 'type' } }, el('span', { className: 'type' }, task.task_type),
      tagList(task.tags),
      task.error ? el('div', { className: 'error-text', title: task.error.message },
        task.error.kind + ': ' + truncate(task.error.message, 120)) : null),
    cell('state', stateBadge(task.state, scheduled), task.cancel_requested && task.state === 'RUNNING' ? ' cancelling' : ''),
    cell('queue', task.queue),
    cell('progress', progressBar(task)),
    cell('attempt', task.attempt + ' / ' + (task.max_retries + 1)),
    cell('created', timeEl(task.created_at)),
    cell('when', whenOf(task)),
    el('td', { className: 'actions-cell' }, rowActions(task)));
}

/** A task's tags, each a link to the tasks carrying it; null for none. */
export function tagList(tags) {
  if (!tags || !tags.length) return null;
  return el('ul', { className: 'tags' }, ...tags.map((tag) => el('li', { dataset: { key: tag } },
    el('a', { className: 'tag', href: tasksHref({ filters: { tag } }) }, tag))));
}

function truncate(text, max) {
  const value = String(text);
  return value.length > max ? value.slice(0, max - 1) + '…' : value;
}

function table(route, data) {
  if (!data.tasks.length) {
    if (data.missing) return empty('No task has the id ' + data.missing + '.');
    const filtered = TASK_FILTERS.some((name) => route.filters[name]);
    if (filtered) return empty('No tasks match these filters. ', el('a', { href: tasksHref({ state: route.state }) }, 'Clear the filters'), '.');
    return empty(route.state ? 'No ' + route.state.toLowerCase() + ' tasks.' : 'No tasks yet. ', route.state ? null : el('a', { href: '#/submit' }, 'Submit one'), route.state ? null : '.');
  }
  const pageIds = data.tasks.map((t) => t.id);
  const allSelected = pageIds.every((id) => app.selected.has(id));
  const someSelected = pageIds.some((id) => app.selected.has(id));
  const selectAll = el('input', {
    type: 'checkbox', id: 'select-page', checked: allSelected, 'aria-label': 'select every task on this page',
    dataset: { action: 'select-page' },
  });
  selectAll.indeterminate = someSelected && !allSelected;
  return el('div', { className: 'table-wrap' }, el('table', { id: 'tasks', className: 'cards-narrow' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', className: 'select' }, selectAll),
      ...['id', 'type', 'state', 'queue', 'progress', 'attempt', 'created', 'when'].map((h) => el('th', { scope: 'col' }, h)),
      el('th', { scope: 'col' }, el('span', { className: 'visually-hidden' }, 'actions')))),
    el('tbody', {}, ...data.tasks.map(taskRow))));
}

function pager(route, data) {
  const pages = Math.max(1, data.totalPages);
  const at = (page, size = route.size) => tasksHref({ state: route.state, filters: route.filters, page, size });
  const link = (id, label, page, enabled) => enabled
    ? el('a', { id, href: at(page), className: 'button-link' }, label)
    : el('span', { id, className: 'button-link disabled' }, label);
  return el('nav', { id: 'pager', 'aria-label': 'pages' },
    link('prev', '‹ newer', route.page - 1, route.page > 1), ' ',
    el('span', { id: 'page-info' }, 'page ' + number(Math.min(route.page, pages)) + ' of ' + number(pages)
      + ' · ' + number(data.total) + (data.total === 1 ? ' task' : ' tasks')), ' ',
    link('next', 'older ›', route.page + 1, route.page < pages), ' ',
    el('span', { className: 'page-sizes' }, 'per page:', ...[20, 50, 100].map((size) => [' ', size === route.size
      ? el('strong', { 'aria-current': 'true' }, String(size))
      : el('a', { href: at(1, size) }, String(size))])));
}

// ---- the filter form (static; its values follow the route) ------------------

/** `2026-12-07T14:03:22` (local, as datetime-local holds it) ↔ RFC 3339. */
function localToIso(value) {
  const date = value ? new Date(value) : null;
  return date && !isNaN(date) ? date.toISOString() : '';
}

function isoToLocal(value) {
  const date = value ? new Date(value) : null;
  if (!date || isNaN(date)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

const INPUTS = [['filter-q', 'q'], ['filter-type', 'type'], ['filter-queue', 'queue'],
  ['filter-tag', 'tag'], ['filter-meta', 'meta'], ['filter-schedule', 'schedule'],
  ['filter-created-after', 'after'], ['filter-created-before', 'before']];

function formFilters() {
  const filters = {};
  for (const [id, name] of INPUTS) {
    const value = $(id).value.trim();
    filters[name] = name === 'after' || name === 'before' ? localToIso(value) : value;
  }
  return filters;
}

/** Puts the route's filters into the form, leaving the field being typed in alone. */
export function syncFilters(route) {
  for (const [id, name] of INPUTS) {
    const input = $(id);
    const value = name === 'after' || name === 'before' ? isoToLocal(route.filters[name]) : route.filters[name];
    if (input.value !== value && document.activeElement !== input) input.value = value;
  }
}

export function fillTypes() {
  const select = $('filter-type');
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '' }, 'any'),
    ...app.types.map((t) => el('option', { value: t.name }, t.name)));
  select.value = chosen;
}

export function fillQueues() {
  const names = app.queues.map((q) => q.queue);
  const list = $('queue-names');
  if ([...list.options].map((o) => o.value).join('\n') !== names.join('\n')) {
    list.replaceChildren(...names.map((name) => el('option', { value: name })));
  }
}

export function bindFilters(navigate) {
  let timer = null;
  const apply = (replace) => {
    const route = app.route.view === 'tasks' ? app.route : { state: '', size: 20 };
    navigate(tasksHref({ state: route.state, filters: formFilters(), size: route.size }), replace);
  };
  $('task-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(timer);
    const q = $('filter-q').value.trim();
    // Enter on an id opens the task.
    if (isTaskId(q)) navigate(taskHref(q), false);
    else apply(false);
  });
  for (const [id] of INPUTS) {
    const input = $(id);
    if (input.tagName === 'SELECT' || input.type === 'datetime-local') {
      input.addEventListener('change', () => apply(false));
    } else {
      // Typing replaces the history entry instead of adding one per key.
      input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => apply(true), 300); });
    }
  }
  $('filter-clear').addEventListener('click', () => {
    for (const [id] of INPUTS) $(id).value = '';
    apply(false);
  });
}

export const actions = {
  cancel: (data) => api('POST', '/tasks/' + encodeURIComponent(data.id) + '/cancel'),
  retry: (data) => api('POST', '/tasks/' + encodeURIComponent(data.id) + '/retry'),
  delete: async (data) => {
    if (!confirm('Delete task ' + data.id + '?')) return 'kept';
    await api('DELETE', '/tasks/' + encodeURIComponent(data.id));
    app.selected.delete(data.id);
    return undefined;
  },
};
