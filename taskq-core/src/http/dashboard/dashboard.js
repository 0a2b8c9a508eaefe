// taskq dashboard. Plain DOM, no build step. Every value that comes from
// task data is put on the page with textContent / DOM properties, never
// parsed as HTML, so a `<script>` in params or results shows as text.
'use strict';

const BASE = location.pathname.replace(/\/dashboard\/?$/, '').replace(/\/$/, '');
const API = BASE + '/api';
const REFRESH_MS = 1000;
const STATES = ['PENDING', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELLED'];

const state = { page: 1, pageSize: 20, types: [], detailId: null, timer: null, statusUntil: 0, dragId: null };

// ---- helpers ---------------------------------------------------------------

/** Builds an element; string children become text nodes (never HTML). */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'className') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child == null) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem('taskq-token') || ''; }

/** Shows a message; explicit ones stay a few seconds before live updates replace them. */
function setStatus(text, isError, sticky = true) {
  if (!sticky && Date.now() < state.statusUntil) return;
  if (sticky) state.statusUntil = Date.now() + 4000;
  const status = $('status');
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || ('HTTP ' + status));
    this.status = status;
    this.code = err.code;
    this.details = err.details || {};
  }
}

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (token()) headers['Authorization'] = 'Bearer ' + token();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(API + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401) setStatus('Enter the API token above.', true);
    throw error;
  }
  return data;
}

function shortId(id) { return String(id).slice(-8); }

function when(value) {
  if (!value) return '';
  const date = new Date(value);
  return isNaN(date) ? String(value) : date.toLocaleString();
}

function progressBar(task) {
  const fraction = task.progress ? Number(task.progress.fraction) || 0 : (task.state === 'FINISHED' ? 1 : 0);
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  const fill = el('div', { className: 'fill' });
  fill.style.width = pct + '%';
  const message = task.progress ? task.progress.message : '';
  const bar = el('div', { className: 'bar' + (task.state === 'FINISHED' ? ' done' : ''), role: 'progressbar',
    'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct) },
  fill, el('span', { className: 'label' }, pct + '%' + (message ? ' ' + message : '')));
  bar.title = message;
  return bar;
}

function stateBadge(value) {
  const name = STATES.includes(value) ? value : 'UNKNOWN';
  return el('span', { className: 'state state-' + name }, String(value));
}

function actionButton(label, handler, extra) {
  return el('button', Object.assign({ type: 'button', onclick: async (event) => {
    event.stopPropagation();
    try { await handler(); setStatus(label + ': done'); } catch (err) { setStatus(label + ': ' + err.message, true); }
    refresh();
  } }, extra || {}), label);
}

// ---- queues ----------------------------------------------------------------

/**
 * The warning row under a queue whose pending tasks no live worker can run
 * (none serves the queue, or none has a handler for their type), or null.
 */
function unclaimableRow(q) {
  if (!(q.unclaimable > 0)) return null;
  const types = (q.unclaimable_types || []).map((t) => t.task_type + ' ×' + t.count).join(', ');
  const why = q.live_workers > 0
    ? ' pending ' + (q.unclaimable === 1 ? 'task' : 'tasks') + ' no live worker of this queue can run: '
      + types + ' (no worker has their handler: is the crate that declares them linked into the worker binary?)'
    : ' pending ' + (q.unclaimable === 1 ? 'task' : 'tasks') + ' wait: no live worker serves this queue ('
      + types + ')';
  return el('tr', { className: 'unclaimable', dataset: { unclaimable: q.queue } },
    el('td', { colspan: '7' }, el('strong', {}, '⚠ ' + q.unclaimable), why));
}

async function loadQueues() {
  const queues = await api('GET', '/queues');
  const body = $('queues').tBodies[0];
  body.replaceChildren(...queues.flatMap((q) => [el('tr', { dataset: { queue: q.queue } },
    el('td', {}, q.queue), el('td', {}, q.pending), el('td', {}, q.scheduled), el('td', {}, q.running),
    el('td', { className: 'live-workers' }, String(q.live_workers ?? '')),
    el('td', { className: q.paused ? 'error' : 'ok' }, q.paused ? 'paused' : 'active'),
    el('td', {},
      q.paused
        ? actionButton('resume', () => api('POST', '/queues/' + encodeURIComponent(q.queue) + '/resume'), { className: 'resume' })
        : actionButton('pause', () => api('POST', '/queues/' + encodeURIComponent(q.queue) + '/pause'), { className: 'pause' }),
      ' ',
      actionButton('purge pending', () => {
        if (!confirm('Cancel every pending task of ' + q.queue + '?')) return Promise.resolve();
        return api('POST', '/queues/' + encodeURIComponent(q.queue) + '/purge');
      }, { className: 'purge' }))), unclaimableRow(q)].filter((row) => row)));
  const select = $('pending-queue');
  const chosen = select.value;
  const names = queues.map((q) => q.queue);
  if (names.join('\n') !== [...select.options].map((o) => o.value).join('\n')) {
    select.replaceChildren(...names.map((name) => el('option', { value: name }, name)));
    if (names.includes(chosen)) select.value = chosen;
  }
}

// ---- workers ---------------------------------------------------------------

const WORKER_STATES = ['running', 'paused', 'stopping', 'gone'];

/** Where a worker stands, and where it was asked to go if not there yet. */
function workerState(w) {
  const name = WORKER_STATES.includes(w.state) ? w.state : 'gone';
  const badge = el('span', { className: 'worker-' + name }, String(w.state));
  const pending = w.requested && w.requested !== w.state && w.state !== 'gone' && w.state !== 'stopping';
  return pending ? [badge, ' → ' + w.requested] : [badge];
}

async function loadWorkers() {
  const workers = await api('GET', '/workers');
  const path = (w, action) => '/workers/' + encodeURIComponent(w.id) + '/' + action;
  $('workers').tBodies[0].replaceChildren(...workers.map((w) => {
    // Where the worker is headed decides which controls make sense.
    const heading = w.state === 'gone' || w.state === 'stopping' ? w.state : (w.requested || w.state);
    const actions = [];
    if (heading === 'running') actions.push(actionButton('pause', () => api('POST', path(w, 'pause')), { className: 'pause' }));
    if (heading === 'paused') actions.push(actionButton('resume', () => api('POST', path(w, 'resume')), { className: 'resume' }));
    if (heading === 'running' || heading === 'paused') {
      actions.push(' ', actionButton('shutdown', () => {
        if (!confirm('Shut down worker ' + w.id + ' gracefully?')) return Promise.resolve();
        return api('POST', path(w, 'shutdown'));
      }, { className: 'shutdown' }));
    }
    const inFlight = el('td', { className: 'in-flight' }, String(w.in_flight_count));
    inFlight.title = (w.in_flight || []).join('\n');
    // Compact: the first few names, the rest counted; all of them on hover.
    const types = w.task_types || [];
    const shown = types.slice(0, 3).join(', ') + (types.length > 3 ? ' +' + (types.length - 3) + ' more' : '');
    const taskTypes = el('td', { className: 'task-types' }, types.length ? shown : '—');
    taskTypes.title = types.join('\n');
    return el('tr', { dataset: { worker: w.id, state: w.state } },
      el('td', { className: 'id' }, w.id),
      el('td', {}, w.host + ' · ' + w.pid),
      el('td', {}, (w.queues || []).map((q) => q.name + ' ×' + q.concurrency).join(', ')),
      taskTypes,
      inFlight,
      el('td', { className: 'state' }, ...workerState(w)),
      el('td', {}, when(w.heartbeat_at)),
      el('td', {}, when(w.started_at)),
      el('td', {}, ...actions));
  }));
}

// ---- pending order ---------------------------------------------------------

/** The reorder call that puts `dragged` where `target` is now (by dragging). */
function dropMove(tasks, draggedId, targetId) {
  const from = tasks.findIndex((t) => t.id === draggedId);
  const to = tasks.findIndex((t) => t.id === targetId);
  if (from < 0 || to < 0 || from === to) return null;
  if (to === 0) return { to: 'front' };
  if (to === tasks.length - 1 && from < to) return { to: 'back' };
  // Moving up: before the target; moving down: before the one after it.
  return { to: 'before', task: from > to ? tasks[to].id : tasks[to + 1].id };
}

function dragHandlers(tasks, task) {
  return {
    draggable: 'true',
    ondragstart: (event) => {
      state.dragId = task.id;
      event.dataTransfer.effectAllowed = 'move';
      event.dataTransfer.setData('text/plain', task.id);
      event.currentTarget.classList.add('dragging');
    },
    ondragend: (event) => {
      state.dragId = null;
      event.currentTarget.classList.remove('dragging');
    },
    ondragover: (event) => {
      if (!state.dragId) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'move';
      event.currentTarget.classList.add('drop-target');
    },
    ondragleave: (event) => event.currentTarget.classList.remove('drop-target'),
    ondrop: async (event) => {
      event.preventDefault();
      event.currentTarget.classList.remove('drop-target');
      const dragged = state.dragId || event.dataTransfer.getData('text/plain');
      state.dragId = null;
      const move = dropMove(tasks, dragged, task.id);
      if (!move) return;
      try {
        await api('POST', '/tasks/' + dragged + '/reorder', move);
        setStatus('moved: done');
      } catch (err) {
        setStatus('move: ' + err.message, true);
      }
      refresh();
    },
  };
}

async function loadPending() {
  const queue = $('pending-queue').value;
  const list = $('pending');
  // A live refresh would replace the items being dragged.
  if (state.dragId) return;
  if (!queue) { list.replaceChildren(); return; }
  const page = await api('GET', '/tasks?state=PENDING&page_size=100&queue=' + encodeURIComponent(queue));
  if (state.dragId) return;
  // The order workers claim in: higher priority first, then lower seq.
  const tasks = page.tasks.slice().sort((a, b) => (b.priority - a.priority) || (a.seq - b.seq));
  list.replaceChildren(...tasks.map((task, i) => el('li', { dataset: { id: task.id }, ...dragHandlers(tasks, task) },
    el('span', { className: 'grip', 'aria-hidden': 'true' }, '⠿'), ' ',
    el('span', { className: 'text' }, task.task_type + ' ' + shortId(task.id) + ' · ' + summary(task.params)),
    ' ',
    actionButton('↑', () => api('POST', '/tasks/' + task.id + '/reorder', { to: 'before', task: tasks[i - 1].id }),
      { className: 'up', title: 'move up', ...(i === 0 ? { disabled: '' } : {}) }),
    actionButton('↓', () => api('POST', '/tasks/' + tasks[i + 1].id + '/reorder', { to: 'before', task: task.id }),
      { className: 'down', title: 'move down', ...(i === tasks.length - 1 ? { disabled: '' } : {}) }),
    actionButton('front', () => api('POST', '/tasks/' + task.id + '/reorder', { to: 'front' }), { className: 'front' }),
    actionButton('back', () => api('POST', '/tasks/' + task.id + '/reorder', { to: 'back' }), { className: 'back' }))));
}

function summary(params) {
  const text = JSON.stringify(params);
  return text && text.length > 60 ? text.slice(0, 57) + '…' : String(text);
}

// ---- schedules -------------------------------------------------------------

function timing(s) {
  if (s.kind === 'interval') return 'every ' + s.every + ' s';
  if (s.kind === 'cron') return 'cron ' + s.expression + ' (' + s.time_zone + ')';
  if (s.kind === 'once') return 'once at ' + when(s.at);
  return String(s.kind);
}

async function loadSchedules() {
  const page = await api('GET', '/schedules?page_size=100');
  const path = (s, action) => '/schedules/' + encodeURIComponent(s.name) + (action ? '/' + action : '');
  $('schedules').tBodies[0].replaceChildren(...page.schedules.map((s) => el('tr', { dataset: { name: s.name } },
    el('td', {}, s.name), el('td', {}, s.task_type), el('td', {}, timing(s)),
    el('td', {}, s.next_run_at ? when(s.next_run_at) : '—'), el('td', {}, s.run_count),
    el('td', { className: s.enabled ? 'ok' : 'error' }, s.enabled ? 'enabled' : 'disabled'),
    el('td', {},
      s.enabled
        ? actionButton('disable', () => api('POST', path(s, 'disable')), { className: 'disable' })
        : actionButton('enable', () => api('POST', path(s, 'enable')), { className: 'enable' }),
      ' ', actionButton('run now', () => api('POST', path(s, 'run')), { className: 'run' }),
      ' ', actionButton('delete', () => {
        if (!confirm('Delete schedule ' + s.name + '?')) return Promise.resolve();
        return api('DELETE', path(s));
      }, { className: 'delete' })))));
}

async function createSchedule(event) {
  event.preventDefault();
  const result = $('schedule-result');
  result.className = '';
  result.textContent = 'creating…';
  const kind = $('schedule-kind').value;
  const whenText = $('schedule-when').value.trim();
  const body = { name: $('schedule-name').value.trim(), task_type: $('schedule-type').value, kind };
  try {
    body.params = JSON.parse($('schedule-params').value.trim() || '{}');
  } catch (err) {
    result.className = 'error';
    result.textContent = 'params: not valid JSON (' + err.message + ')';
    return;
  }
  if (kind === 'interval') body.every = Number(whenText);
  else if (kind === 'cron') body.expression = whenText;
  else {
    // Accept anything Date parses (local time without a zone), send RFC 3339.
    const at = new Date(whenText);
    body.at = isNaN(at) ? whenText : at.toISOString();
  }
  if (kind === 'cron' && $('schedule-tz').value.trim()) body.time_zone = $('schedule-tz').value.trim();
  try {
    const schedule = await api('POST', '/schedules', body);
    result.className = 'ok';
    result.textContent = 'Created schedule ' + schedule.name;
    refresh();
  } catch (err) {
    result.className = 'error';
    const field = err.details && err.details.field;
    result.textContent = err.message + (field ? ' (field: ' + field + ')' : '');
  }
}

// ---- tasks -----------------------------------------------------------------

async function loadTasks() {
  const query = new URLSearchParams({ page: state.page, page_size: state.pageSize });
  if ($('filter-state').value) query.set('state', $('filter-state').value);
  if ($('filter-type').value) query.set('task_type', $('filter-type').value);
  if ($('filter-queue').value.trim()) query.set('queue', $('filter-queue').value.trim());
  // datetime-local inputs hold local time; the API takes RFC 3339.
  for (const [input, param] of [['filter-created-after', 'created_after'], ['filter-created-before', 'created_before']]) {
    const date = $(input).value ? new Date($(input).value) : null;
    if (date && !isNaN(date)) query.set(param, date.toISOString());
  }
  const page = await api('GET', '/tasks?' + query);
  $('tasks').tBodies[0].replaceChildren(...page.tasks.map(taskRow));
  $('page-info').textContent = 'page ' + page.page + ' of ' + Math.max(1, page.total_pages) + ' · ' + page.total + ' tasks';
  $('prev').disabled = page.page <= 1;
  $('next').disabled = page.page >= page.total_pages;
}

function taskRow(task) {
  const actions = [];
  if (task.state === 'PENDING' || (task.state === 'RUNNING' && !task.cancel_requested)) {
    actions.push(actionButton('cancel', () => api('POST', '/tasks/' + task.id + '/cancel'), { className: 'cancel' }));
  }
  if (task.state === 'FAILED' || task.state === 'CANCELLED') {
    actions.push(actionButton('retry', () => api('POST', '/tasks/' + task.id + '/retry'), { className: 'retry' }));
  }
  if (task.state === 'FINISHED' || task.state === 'FAILED' || task.state === 'CANCELLED') {
    actions.push(' ', actionButton('delete', () => {
      if (!confirm('Delete task ' + task.id + '?')) return Promise.resolve();
      if (state.detailId === task.id) { state.detailId = null; $('detail-section').hidden = true; }
      return api('DELETE', '/tasks/' + task.id);
    }, { className: 'delete' }));
  }
  return el('tr', { className: 'task', dataset: { id: task.id, state: task.state }, onclick: () => showDetail(task.id) },
    el('td', { className: 'id', title: task.id }, shortId(task.id)),
    el('td', {}, task.task_type),
    el('td', {}, stateBadge(task.state), task.cancel_requested && task.state === 'RUNNING' ? ' (cancelling)' : ''),
    el('td', {}, task.queue),
    el('td', {}, progressBar(task)),
    el('td', {}, task.attempt + ' / ' + (task.max_retries + 1)),
    el('td', {}, when(task.created_at)),
    el('td', {}, ...actions));
}

async function showDetail(id) {
  state.detailId = id;
  $('detail-section').hidden = false;
  await loadDetail();
  $('detail-section').scrollIntoView({ block: 'nearest' });
}

async function loadDetail() {
  if (!state.detailId) return;
  const task = await api('GET', '/tasks/' + state.detailId);
  $('detail-id').textContent = task.id;
  const json = (value) => el('pre', {}, JSON.stringify(value, null, 2));
  const rows = [
    ['type', task.task_type], ['state', stateBadge(task.state)], ['queue', task.queue],
    ['priority', String(task.priority)], ['attempts', task.attempt + ' of ' + (task.max_retries + 1)],
    ['progress', progressBar(task)], ['params', json(task.params)],
    ['result', task.result === null || task.result === undefined ? '—' : json(task.result)],
    ['error', task.error ? el('pre', { className: 'error' }, task.error.kind + ': ' + task.error.message) : '—'],
    ['created', when(task.created_at)], ['scheduled', when(task.scheduled_at)],
    ['started', when(task.started_at)], ['finished', when(task.finished_at)],
    ['worker', task.worker_id || '—'],
  ];
  $('detail').replaceChildren(...rows.flatMap(([name, value]) =>
    [el('dt', {}, name), el('dd', { dataset: { field: name } }, value)]));
}

// ---- submit form, generated from the task type's JSON schema ---------------

async function loadTypes() {
  state.types = await api('GET', '/task-types');
  const select = $('submit-type');
  select.replaceChildren(...state.types.map((t) => el('option', { value: t.name }, t.name)));
  $('schedule-type').replaceChildren(...state.types.map((t) => el('option', { value: t.name }, t.name)));
  $('filter-type').replaceChildren(el('option', { value: '' }, 'any'),
    ...state.types.map((t) => el('option', { value: t.name }, t.name)));
  renderParamsForm();
}

function resolve(schema, root) {
  if (schema && typeof schema.$ref === 'string') {
    const name = schema.$ref.split('/').pop();
    const defs = (root && (root.$defs || root.definitions)) || {};
    return defs[name] || schema;
  }
  return schema || {};
}

/** The field kind of a property: string, integer, number, boolean or json. */
function kindOf(schema) {
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null');
  if (Array.isArray(schema.enum)) return 'enum';
  return ['string', 'integer', 'number', 'boolean'].includes(type) ? type : 'json';
}

function renderParamsForm() {
  const type = state.types.find((t) => t.name === $('submit-type').value);
  const fieldset = $('submit-params');
  fieldset.replaceChildren(el('legend', {}, 'Params'));
  $('submit-description').textContent = type ? type.description : '';
  if (!type) return;
  const root = type.params_schema || {};
  const schema = resolve(root, root);
  const required = new Set(schema.required || []);
  const properties = schema.properties || null;
  if (!properties) {
    if (schema.type === 'null') { fieldset.append(el('p', { className: 'hint' }, 'No params.')); return; }
    fieldset.append(el('label', { dataset: { param: '' } }, 'params (JSON)',
      el('textarea', { name: 'params', rows: '4', 'data-kind': 'json' })));
    return;
  }
  for (const [name, raw] of Object.entries(properties)) {
    const prop = resolve(raw, root);
    const kind = kindOf(prop);
    let input;
    if (kind === 'boolean') input = el('input', { type: 'checkbox' });
    else if (kind === 'integer' || kind === 'number') input = el('input', { type: 'number', step: kind === 'integer' ? '1' : 'any' });
    else if (kind === 'enum') input = el('select', {}, ...prop.enum.map((v) => el('option', { value: JSON.stringify(v) }, String(v))));
    else if (kind === 'json') input = el('textarea', { rows: '2', placeholder: 'JSON' });
    else input = el('input', { type: 'text' });
    input.name = name;
    input.dataset.kind = kind;
    input.dataset.param = name;
    if (required.has(name) && kind !== 'boolean') input.required = true;
    if (prop.default !== undefined && kind !== 'json') {
      if (kind === 'boolean') input.checked = Boolean(prop.default);
      else input.value = kind === 'enum' ? JSON.stringify(prop.default) : String(prop.default);
    }
    const label = el('label', { dataset: { field: 'params.' + name } }, name + (required.has(name) ? ' *' : ''), ' ', input);
    if (prop.description) label.title = prop.description;
    fieldset.append(label);
  }
}

function collectParams() {
  const inputs = [...$('submit-params').querySelectorAll('input, select, textarea')];
  if (inputs.length === 1 && inputs[0].name === 'params') {
    const text = inputs[0].value.trim();
    return text ? JSON.parse(text) : null;
  }
  if (inputs.length === 0) return null;
  const params = {};
  for (const input of inputs) {
    const kind = input.dataset.kind;
    if (kind === 'boolean') { params[input.name] = input.checked; continue; }
    const text = input.value.trim();
    if (text === '') continue; // left out: the params type's default, or a 422 naming it
    if (kind === 'integer' || kind === 'number') params[input.name] = Number(text);
    else if (kind === 'enum' || kind === 'json') params[input.name] = JSON.parse(text);
    else params[input.name] = input.value;
  }
  return params;
}

async function submitTask(event) {
  event.preventDefault();
  const result = $('submit-result');
  result.className = '';
  result.textContent = 'submitting…';
  delete result.dataset.id;
  for (const label of document.querySelectorAll('#submit-form label.invalid')) label.classList.remove('invalid');
  const body = { task_type: $('submit-type').value };
  try {
    body.params = collectParams();
  } catch (err) {
    result.className = 'error';
    result.textContent = 'params: not valid JSON (' + err.message + ')';
    return;
  }
  if ($('submit-queue').value.trim()) body.queue = $('submit-queue').value.trim();
  if ($('submit-priority').value !== '') body.priority = Number($('submit-priority').value);
  if ($('submit-countdown').value !== '') body.countdown = Number($('submit-countdown').value);
  try {
    const task = await api('POST', '/tasks', body);
    result.className = 'ok';
    result.textContent = 'Submitted ' + task.task_type + ' ' + task.id;
    result.dataset.id = task.id;
    refresh();
  } catch (err) {
    result.className = 'error';
    const field = err.details && err.details.field;
    result.textContent = err.message + (field ? ' (field: ' + field + ')' : '');
    if (field) {
      const top = String(field).split(/[.[]/).slice(0, 2).join('.');
      for (const label of document.querySelectorAll('#submit-form label')) {
        if (label.dataset.field === top) label.classList.add('invalid');
      }
    }
  }
}

// ---- wiring ----------------------------------------------------------------

async function refresh() {
  try {
    await Promise.all([loadQueues(), loadWorkers(), loadTasks(), loadDetail(), loadSchedules()]);
    await loadPending();
    setStatus('updated ' + new Date().toLocaleTimeString(), false, false);
  } catch (err) {
    setStatus(err.message, true);
  }
}

function schedule() {
  clearInterval(state.timer);
  if ($('live').checked) state.timer = setInterval(refresh, REFRESH_MS);
}

async function start() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('token')) {
    sessionStorage.setItem('taskq-token', hash.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  $('token').value = token();
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('taskq-token', $('token').value.trim());
    setStatus('token saved');
    init();
  });
  $('submit-type').addEventListener('change', renderParamsForm);
  $('submit-form').addEventListener('submit', submitTask);
  $('schedule-form').addEventListener('submit', createSchedule);
  for (const id of ['filter-state', 'filter-type', 'filter-created-after', 'filter-created-before']) {
    $(id).addEventListener('change', () => { state.page = 1; refresh(); });
  }
  $('filter-queue').addEventListener('input', () => { state.page = 1; refresh(); });
  $('filters').addEventListener('submit', (event) => event.preventDefault());
  $('pending-queue').addEventListener('change', refresh);
  $('live').addEventListener('change', schedule);
  $('prev').addEventListener('click', () => { state.page = Math.max(1, state.page - 1); refresh(); });
  $('next').addEventListener('click', () => { state.page += 1; refresh(); });
  $('detail-close').addEventListener('click', () => { state.detailId = null; $('detail-section').hidden = true; });
  await init();
  schedule();
}

async function init() {
  try {
    await loadTypes();
    setStatus('connected');
  } catch (err) {
    setStatus(err.message, true);
  }
  refresh();
}

start();
