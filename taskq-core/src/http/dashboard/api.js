// Calls to the REST API, and what the last calls said about the connection:
// fine, unauthorised (no or a wrong token), or disconnected (no answer, or
// a 5xx from the server or a proxy in front of it).

const BASE = location.pathname.replace(/\/dashboard\/?$/, '').replace(/\/$/, '');
const API = BASE + '/api';

/** How long a call may take before the server counts as unreachable. */
export const CALL_TIMEOUT_MS = 10_000;

export function token() { return sessionStorage.getItem('taskq-token') || ''; }
export function setToken(value) { sessionStorage.setItem('taskq-token', value); }

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const err = (body && body.error) || {};
    super(err.message || fallback || ('HTTP ' + status));
    this.status = status;
    this.code = err.code;
    this.details = err.details || {};
  }

  /** The server could not be reached or is failing: not the request's fault. */
  get disconnected() { return this.status === 0 || this.status >= 500; }
}

/** `{ kind: 'ok' | 'unauthorised' | 'disconnected', since, message, lastOk }` */
export const connection = { kind: 'ok', since: null, message: '', lastOk: null };

function note(kind, message) {
  if (connection.kind !== kind) connection.since = new Date();
  connection.kind = kind;
  connection.message = message;
  if (kind === 'ok') connection.lastOk = new Date();
}

export async function api(method, path, body) {
  // The header a cross-site form cannot send: the server refuses a write
  // without a JSON body unless it is there (CSRF).
  const headers = { Accept: 'application/json', 'X-Requested-With': 'taskq-dashboard' };
  if (token()) headers.Authorization = 'Bearer ' + token();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), CALL_TIMEOUT_MS);
  let response;
  try {
    response = await fetch(API + path, {
      method, headers, signal: abort.signal, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    const message = abort.signal.aborted
      ? 'No answer within ' + CALL_TIMEOUT_MS / 1000 + ' s'
      : 'The server cannot be reached';
    note('disconnected', message);
    throw new ApiError(0, null, message);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (_) { data = null; }
  }
  if (response.status === 401) {
    const error = new ApiError(401, data, 'unauthorised');
    note('unauthorised', error.message);
    throw error;
  }
  if (response.status >= 500) {
    const error = new ApiError(response.status, data, 'the server answered ' + response.status);
    note('disconnected', 'HTTP ' + response.status + ': ' + error.message);
    throw error;
  }
  note('ok', '');
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** `GET api/tasks` with the given filters (empty values left out). */
export function listTasks(filters, page = 1, pageSize = 20) {
  const query = new URLSearchParams({ page: String(page), page_size: String(pageSize) });
  for (const [key, value] of Object.entries(filters)) {
    // A list (metadata pairs) repeats its parameter.
    if (Array.isArray(value)) for (const one of value) query.append(key, one);
    else if (value !== undefined && value !== null && value !== '') query.set(key, value);
  }
  return api('GET', '/tasks?' + query);
}

/** The API's largest page. */
export const MAX_PAGE = 100;

/**
 * The `limit` oldest-submitted pending tasks of a queue that holds
 * `total` pending ones (the list is newest first, so they are on the last
 * pages): the tasks next in line when the queue runs first in, first out.
 */
export async function oldestPending(queue, total, limit = MAX_PAGE) {
  if (total <= 0) return [];
  const filters = { state: 'PENDING', queue };
  const last = Math.ceil(total / MAX_PAGE);
  const tail = await listTasks(filters, last, MAX_PAGE);
  let tasks = tail.tasks;
  if (tasks.length < limit && last > 1) {
    const before = await listTasks(filters, last - 1, MAX_PAGE);
    tasks = before.tasks.concat(tasks.filter((t) => !before.tasks.some((b) => b.id === t.id)));
  }
  return tasks.slice(-limit);
}

/** Is `text` a task id (a UUID of any version)? */
export function isTaskId(text) {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(text);
}
