// Selecting tasks and acting on many at once: retry, cancel or delete the
// selection (each through the task's own route), and retry every failed
// task that matches the current filters.

import { api, listTasks, MAX_PAGE } from './api.js';
import { el, actionButton, number } from './dom.js';
import { app, pool, SILENT } from './state.js';
import { apiFilters } from './routes.js';

/** Calls in flight at once during a bulk action. */
const PARALLEL = 4;

/** The most tasks one "retry all" collects. */
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

/**
 * Runs `call` on each id, a few at a time, telling how far it got, and
 * answers with a summary: how many were done, and why the others were not.
 */
async function each(label, ids, call) {
  const succeeded = [];
  const refused = new Map();
  let refusals = 0;
  const progress = () => label + ': ' + number(succeeded.length + refusals) + ' of ' + number(ids.length) + '…';
  app.flash(progress());
  await pool(ids, PARALLEL, async (id) => {
    try {
      await call(id);
      succeeded.push(id);
    } catch (err) {
      // The server gone or the token refused: stop, the banner says why.
      if (err.disconnected || err.status === 401) throw err;
      refusals += 1;
      refused.set(err.message, (refused.get(err.message) || 0) + 1);
    }
    app.flash(progress());
  });
  const why = [...refused].map(([message, n]) => message + ' (' + n + ')').join('; ');
  return {
    succeeded,
    text: label + ': ' + number(succeeded.length) + ' of ' + number(ids.length) + ' done' + (why ? '; not done: ' + why : ''),
  };
}

/** The selected ids an action applies to, by the state each was last seen in. */
function applicable(action) {
  const ids = [...app.selected].filter(([, state]) => APPLIES[action].includes(state)).map(([id]) => id);
  const skipped = app.selected.size - ids.length;
  return { ids, skipped };
}

async function bulk(action, verb, method, suffix) {
  const { ids, skipped } = applicable(action);
  const skippedText = skipped ? '; ' + skipped + ' skipped (not ' + APPLIES[action].join(' or ').toLowerCase() + ')' : '';
  if (!ids.length) return verb + ': none of the selected tasks is ' + APPLIES[action].join(' or ').toLowerCase();
  if ((action === 'delete' || action === 'cancel')
      && !confirm(verb + ' ' + ids.length + (ids.length === 1 ? ' task' : ' tasks') + '?')) return 'kept';
  const result = await each(verb, ids, (id) => api(method, '/tasks/' + encodeURIComponent(id) + suffix));
  for (const id of result.succeeded) app.selected.delete(id);
  return result.text + skippedText;
}

/** Every failed task matching the filters, page by page (newest first). */
async function collectFailed(route) {
  const filters = { ...apiFilters(route), state: 'FAILED' };
  const ids = new Set();
  for (let page = 1; ids.size < RETRY_ALL_LIMIT; page++) {
    const found = await listTasks(filters, page, MAX_PAGE);
    for (const task of found.tasks) ids.add(task.id);
    if (page >= found.total_pages) break;
  }
  return [...ids].slice(0, RETRY_ALL_LIMIT);
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
  'bulk-retry': () => bulk('retry', 'retry', 'POST', '/retry'),
  'bulk-cancel': () => bulk('cancel', 'cancel', 'POST', '/cancel'),
  'bulk-delete': () => bulk('delete', 'delete', 'DELETE', ''),
  'retry-all': async (_data, _button, view) => {
    const route = app.route;
    const ids = view && view.mode === 'text'
      ? view.matches.filter((t) => t.state === 'FAILED').map((t) => t.id)
      : await collectFailed(route);
    if (!ids.length) return 'retry all: no failed task matches';
    const capped = ids.length >= RETRY_ALL_LIMIT ? ' (the first ' + number(RETRY_ALL_LIMIT) + ')' : '';
    if (!confirm('Retry ' + number(ids.length) + ' failed ' + (ids.length === 1 ? 'task' : 'tasks') + capped + '?')) return 'kept';
    return (await each('retry all', ids, (id) => api('POST', '/tasks/' + encodeURIComponent(id) + '/retry'))).text + capped;
  },
};
