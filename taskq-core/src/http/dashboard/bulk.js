// Selecting tasks and acting on many at once: retry, cancel or delete the
// selection, and retry every failed task that matches the current filters,
// each through `POST api/tasks/bulk` (up to BULK_MAX tasks a call).

import { api, listTasks } from './api.js';
import { el, actionButton, number } from './dom.js';
import { app, SILENT } from './state.js';
import { apiFilters } from './routes.js';

/** The most tasks one bulk call takes (the server's cap). */
const BULK_MAX = 1000;

/** The most tasks one "retry all" retries. */
export const RETRY_ALL_LIMIT = 10_000;

/** The states each bulk action applies to. */
const APPLIES = {
  retry: ['FAILED', 'CANCELLED', 'EXPIRED'],
  cancel: ['PENDING', 'RUNNING'],
  delete: ['FINISHED', 'FAILED', 'CANCELLED', 'EXPIRED'],
};

export function selectBox(task) {
  return el('input', {
    type: 'checkbox', checked: app.selected.has(task.id), 'aria-label': 'select task ' + task.id,
    dataset: { action: 'select', id: task.id, state: task.state },
  });
}

/** Keeps the known state of selected tasks current. */
export function noteSeen(tasks) {
  for (const task of tasks) if (app.selected.has(task.id)) app.selected.set(task.id, task.state);
}

export function bulkBar(route, data) {
  const count = app.selected.size;
  const onPage = data.tasks.filter((t) => app.selected.has(t.id)).length;
  const none = count === 0;
  const retryAll = route.state === 'FAILED' && data.total > 0
    ? actionButton(data.mode === 'text' ? 'Retry the ' + number(data.total) + ' matching failed' : 'Retry all ' + number(data.total) + ' failed',
      'retry-all', {}, { id: 'retry-all', title: data.mode === 'text' ? 'every failed task this search found' : 'every failed task that matches the filters, on all pages' })
    : null;
  return el('div', { id: 'bulk', className: 'bulk', role: 'group', 'aria-label': 'bulk actions' },
    el('span', { id: 'selection-count' }, number(count) + ' selected'
      + (count > onPage ? ' (' + number(count - onPage) + ' not on this page)' : '')),
    actionButton('Retry', 'bulk-retry', {}, { disabled: none, id: 'bulk-retry' }),
    actionButton('Cancel', 'bulk-cancel', {}, { disabled: none, id: 'bulk-cancel' }),
    actionButton('Delete', 'bulk-delete', {}, { disabled: none, id: 'bulk-delete' }),
    actionButton('Clear selection', 'bulk-clear', {}, { disabled: none, id: 'bulk-clear' }),
    retryAll);
}

/** Tallies bulk answers: how many were done, and why the others were not. */
class Tally {
  constructor(label) {
    this.label = label;
    this.changed = 0;
    this.tried = 0;
    this.refused = new Map();
    this.succeeded = [];
  }

  add(result, ids) {
    this.changed += result.changed;
    this.tried += result.changed + result.skipped;
    const failed = new Set();
    for (const error of result.errors) {
      failed.add(error.id);
      this.refused.set(error.message, (this.refused.get(error.message) || 0) + 1);
    }
    if (ids) this.succeeded.push(...ids.filter((id) => !failed.has(id)));
  }

  progress(of) { return this.label + ': ' + number(this.tried) + ' of ' + number(of) + '…'; }

  text(of) {
    const why = [...this.refused].map(([message, n]) => message + ' (' + n + ')').join('; ');
    return this.label + ': ' + number(this.changed) + ' of ' + number(of) + ' done' + (why ? '; not done: ' + why : '');
  }
}

/**
 * Acts on `ids` in calls of up to BULK_MAX, telling how far it got. The
 * server gone or the token refused stops it (the banner says why).
 */
async function byIds(label, action, ids) {
  const tally = new Tally(label);
  app.flash(tally.progress(ids.length));
  for (let at = 0; at < ids.length; at += BULK_MAX) {
    const chunk = ids.slice(at, at + BULK_MAX);
    tally.add(await api('POST', '/tasks/bulk', { action, ids: chunk }), chunk);
    app.flash(tally.progress(ids.length));
  }
  return tally;
}

/** The current filters as the bulk route takes them. */
function bulkFilter(route, state) {
  const f = apiFilters(route);
  const filter = { state };
  for (const name of ['task_type', 'queue', 'schedule', 'created_after', 'created_before']) {
    if (f[name]) filter[name] = f[name];
  }
  if (f.tag) filter.tags = String(f.tag).split(',').filter(Boolean);
  return filter;
}

/** The selected ids an action applies to, by the state each was last seen in. */
function applicable(action) {
  const ids = [...app.selected].filter(([, state]) => APPLIES[action].includes(state)).map(([id]) => id);
  const skipped = app.selected.size - ids.length;
  return { ids, skipped };
}

async function bulk(action, verb) {
  const { ids, skipped } = applicable(action);
  const skippedText = skipped ? '; ' + skipped + ' skipped (not ' + APPLIES[action].join(' or ').toLowerCase() + ')' : '';
  if (!ids.length) return verb + ': none of the selected tasks is ' + APPLIES[action].join(' or ').toLowerCase();
  if ((action === 'delete' || action === 'cancel')
      && !confirm(verb + ' ' + ids.length + (ids.length === 1 ? ' task' : ' tasks') + '?')) return 'kept';
  const tally = await byIds(verb, action, ids);
  for (const id of tally.succeeded) app.selected.delete(id);
  return tally.text(ids.length) + skippedText;
}

/**
 * Retries the failed tasks matching the filters, a call at a time: each
 * takes the newest BULK_MAX, which leave the failed ones as they are
 * retried, until none is left, a call changes none, or RETRY_ALL_LIMIT.
 */
async function retryFailed(route, total) {
  const tally = new Tally('retry all');
  const filter = bulkFilter(route, 'FAILED');
  app.flash(tally.progress(total));
  while (tally.tried < Math.min(total, RETRY_ALL_LIMIT)) {
    const result = await api('POST', '/tasks/bulk', { action: 'retry', filter });
    tally.add(result);
    app.flash(tally.progress(total));
    if (!result.remaining || !result.changed) break;
  }
  return tally;
}

export const actions = {
  select: (data, input) => {
    if (input.checked) app.selected.set(data.id, data.state);
    else app.selected.delete(data.id);
    return SILENT;
  },
  'select-page': (_data, input) => {
    for (const box of document.querySelectorAll('#tasks tbody input[data-action="select"]')) {
      if (input.checked) app.selected.set(box.dataset.id, box.dataset.state);
      else app.selected.delete(box.dataset.id);
    }
    return SILENT;
  },
  'bulk-clear': () => { app.selected.clear(); return SILENT; },
  'bulk-retry': () => bulk('retry', 'retry'),
  'bulk-cancel': () => bulk('cancel', 'cancel'),
  'bulk-delete': () => bulk('delete', 'delete'),
  'retry-all': async (_data, _button, view) => {
    const route = app.route;
    if (view && view.mode === 'text') {
      // A text search's matches are known by id.
      const ids = view.matches.filter((t) => t.state === 'FAILED').map((t) => t.id);
      if (!ids.length) return 'retry all: no failed task matches';
      if (!confirm('Retry ' + number(ids.length) + ' failed ' + (ids.length === 1 ? 'task' : 'tasks') + '?')) return 'kept';
      return (await byIds('retry all', 'retry', ids)).text(ids.length);
    }
    const { total } = await listTasks({ ...apiFilters(route), state: 'FAILED' }, 1, 1);
    if (!total) return 'retry all: no failed task matches';
    const capped = total > RETRY_ALL_LIMIT ? ' (the first ' + number(RETRY_ALL_LIMIT) + ')' : '';
    if (!confirm('Retry ' + number(total) + ' failed ' + (total === 1 ? 'task' : 'tasks') + capped + '?')) return 'kept';
    return (await retryFailed(route, total)).text(Math.min(total, RETRY_ALL_LIMIT)) + capped;
  },
};
