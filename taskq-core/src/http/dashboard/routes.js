// The page's addresses: every view and every filter lives in the hash, so
// a task or a filtered list has a URL to share, and back / forward work.
//
//   #/                          overview
//   #/tasks/failed?queue=q&type=t&tag=a,b&meta=k:v&schedule=s&q=text&after=…&before=…&page=2&size=50
//   #/task/<id>                 one task
//   #/pending/<queue>           the pending order of a queue
//   #/workflows/<id>            one workflow: its steps as a graph
//   #/schedules  #/workers  #/submit

import { STATES } from './dom.js';

export const VIEWS = ['overview', 'tasks', 'task', 'workflows', 'pending', 'schedules', 'workers', 'submit'];

/** The filters a task list route carries, by their hash names. */
export const TASK_FILTERS = ['queue', 'type', 'tag', 'meta', 'schedule', 'q', 'after', 'before'];

export function parseRoute(hash) {
  const text = hash.replace(/^#\/?/, '');
  const [path, query = ''] = text.split('?');
  const parts = path.split('/').filter((p) => p !== '').map(safeDecode);
  const params = new URLSearchParams(query);
  const view = parts[0] || 'overview';
  if (!VIEWS.includes(view)) return { view: 'missing', path };
  if (view === 'tasks') {
    const state = (parts[1] || '').toUpperCase();
    const filters = {};
    for (const name of TASK_FILTERS) filters[name] = params.get(name) || '';
    return {
      view, filters,
      state: STATES.includes(state) ? state : '',
      page: Math.max(1, Number.parseInt(params.get('page') || '1', 10) || 1),
      size: [20, 50, 100].includes(Number(params.get('size'))) ? Number(params.get('size')) : 20,
    };
  }
  if (view === 'task' || view === 'workflows') return { view, id: parts[1] || '' };
  if (view === 'pending') return { view, queue: parts[1] || '' };
  return { view };
}

function safeDecode(part) {
  try { return decodeURIComponent(part); } catch (_) { return part; }
}

/** The API filters (`GET api/tasks` parameters) of a task list route. */
export function apiFilters(route) {
  const f = route.filters;
  return {
    state: route.state, task_type: f.type, queue: f.queue, tag: f.tag, schedule: f.schedule,
    metadata: metaPairs(f.meta), created_after: f.after, created_before: f.before,
  };
}

/**
 * The pairs of the metadata filter, `key:value` each (the API's
 * `metadata` parameter, one per pair): `order:7 note:"two words"` holds
 * two, split at spaces outside double quotes.
 */
export function metaPairs(text) {
  return (text || '').match(/[^\s"]+(?:"(?:[^"\\]|\\.)*"[^\s"]*)*/g) || [];
}

export function tasksHref({ state = '', filters = {}, page = 1, size = 20 } = {}) {
  const query = new URLSearchParams();
  for (const name of TASK_FILTERS) if (filters[name]) query.set(name, filters[name]);
  if (page > 1) query.set('page', String(page));
  if (size !== 20) query.set('size', String(size));
  const text = query.toString();
  return '#/tasks' + (state ? '/' + state.toLowerCase() : '') + (text ? '?' + text : '');
}

export function taskHref(id) { return '#/task/' + encodeURIComponent(id); }

export function workflowHref(id) { return '#/workflows/' + encodeURIComponent(id); }

export function pendingHref(queue) { return '#/pending/' + encodeURIComponent(queue); }
