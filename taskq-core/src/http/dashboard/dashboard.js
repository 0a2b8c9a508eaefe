// taskq dashboard: the entry module. Plain DOM, no build step. It routes
// the hash to a view, runs one refresh at a time on the chosen interval,
// says when the server is unreachable or refuses the token, and runs the
// buttons' actions by delegation. Every value from task data reaches the
// page as text (see dashboard/dom.js), never as markup.
//
// Layout (each under dashboard/): dom.js (building and merging nodes,
// times), api.js (calls, connection state), routes.js (addresses),
// state.js (what views share), one module per view: overview.js,
// tasks.js with bulk.js, detail.js, workflow.js, pending.js, schedules.js,
// workers.js, submit.js.

import { api, connection, setToken, token, listTasks } from './dashboard/api.js';
import { $, el, morph } from './dashboard/dom.js';
import { parseRoute } from './dashboard/routes.js';
import { app, SILENT } from './dashboard/state.js';
import * as overview from './dashboard/overview.js';
import * as tasks from './dashboard/tasks.js';
import * as bulk from './dashboard/bulk.js';
import * as detail from './dashboard/detail.js';
import * as workflow from './dashboard/workflow.js';
import * as pending from './dashboard/pending.js';
import * as schedules from './dashboard/schedules.js';
import * as workers from './dashboard/workers.js';
import * as submit from './dashboard/submit.js';

/** Each route's view; `missing` is an unknown address. */
const VIEWS = {
  overview: { module: overview, title: () => 'Overview' },
  tasks: { module: tasks, title: (r) => (r.state ? r.state.toLowerCase() + ' tasks' : 'Tasks') },
  task: { module: detail, title: (r) => 'Task ' + r.id },
  workflows: { module: workflow, title: (r) => 'Workflow ' + r.id },
  pending: { module: pending, title: () => 'Pending order' },
  schedules: { module: schedules, title: () => 'Schedules' },
  workers: { module: workers, title: () => 'Workers' },
  submit: { module: null, title: () => 'Submit a task' },
  missing: { module: null, title: () => 'Not found' },
};

/** Which nav entry a view belongs to. */
const NAV_OF = { task: 'tasks', workflows: 'tasks' };

const ACTIONS = {
  ...overview.actions, ...tasks.actions, ...bulk.actions, ...pending.actions,
  ...schedules.actions, ...workers.actions, ...workflow.actions,
};

const INTERVALS = [1000, 2000, 5000, 10000, 30000, 60000];
const DEFAULT_INTERVAL = 2000;

/** The data of the current view and the route it was loaded for. */
let shown = { key: null, data: null };
let inFlight = null;
let again = false;
let timer = null;
let typesLoaded = false;

const routeKey = (route) => JSON.stringify(route);

function interval() {
  const text = localStorage.getItem('taskq-interval');
  const stored = text === null ? NaN : Number(text);
  return stored === 0 || INTERVALS.includes(stored) ? stored : DEFAULT_INTERVAL;
}

// ---- loading ---------------------------------------------------------------

async function loadTypes() {
  app.types = await api('GET', '/task-types');
  typesLoaded = true;
  tasks.fillTypes();
  schedules.fillTypes();
  submit.fillTypes();
}

/** Queues and tasks per state: the overview, the tabs and the nav use them. */
async function loadShared() {
  const [queues, ...ended] = await Promise.all([
    api('GET', '/queues'),
    // Queue stats count no WAITING steps: the list's total does.
    ...['WAITING', 'FINISHED', 'FAILED', 'CANCELLED', 'EXPIRED'].map((state) => listTasks({ state }, 1, 1)),
  ]);
  app.queues = queues;
  app.counts = {
    PENDING: queues.reduce((sum, q) => sum + q.pending + q.scheduled, 0),
    RUNNING: queues.reduce((sum, q) => sum + q.running, 0),
    WAITING: ended[0].total, FINISHED: ended[1].total, FAILED: ended[2].total, CANCELLED: ended[3].total,
    EXPIRED: ended[4].total,
  };
  tasks.fillQueues();
}

async function loadOnce() {
  const route = app.route;
  const key = routeKey(route);
  try {
    if (!typesLoaded) await loadTypes();
    await loadShared();
    const module = VIEWS[route.view].module;
    const data = module && module.load ? await module.load(route) : null;
    // The operator may have moved on while this loaded.
    if (routeKey(app.route) === key) {
      shown = { key, data };
      $('updated').dataset.refreshedAt = new Date().toISOString();
    }
  } catch (err) {
    // Unreachable or refused: the banner says so. Anything else is news.
    if (!err.disconnected && err.status !== 401) app.flash('refresh: ' + err.message, true);
  }
}

/**
 * Loads and renders the current view. At most one refresh is in flight: a
 * call meanwhile asks for one more run after it, and the next timed run is
 * set only when a run has ended, so a slow server is never asked twice.
 */
function refresh() {
  if (inFlight) {
    again = true;
    return inFlight;
  }
  clearTimeout(timer);
  inFlight = (async () => {
    try {
      do {
        again = false;
        document.body.dataset.refreshing = 'true';
        await loadOnce();
        render();
      } while (again);
    } finally {
      delete document.body.dataset.refreshing;
      inFlight = null;
      scheduleNext();
    }
  })();
  return inFlight;
}

function scheduleNext() {
  clearTimeout(timer);
  const ms = interval();
  if (ms > 0) timer = setTimeout(refresh, ms);
}

// ---- rendering -------------------------------------------------------------

function render() {
  const route = app.route;
  const view = VIEWS[route.view];
  const data = shown.key === routeKey(route) ? shown.data : null;
  document.title = view.title(route) + ' · taskq';
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.nav === (NAV_OF[route.view] || route.view)) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  for (const section of document.querySelectorAll('main > section')) {
    section.hidden = section.dataset.view !== route.view;
  }
  renderConnection();
  // A refresh would replace the items being dragged.
  if (route.view === 'pending' && app.dragId) return;
  const module = view.module;
  if (module && module.renderHead) morph($(route.view + '-head'), module.renderHead(route));
  if (module) morph($(route.view + '-body'), module.render(route, data).filter(Boolean));
  if (module && module.afterRender) module.afterRender(route, data);
}

function clock(date) { return date ? date.toLocaleTimeString() : 'never'; }

function renderConnection() {
  const kind = connection.kind;
  const banner = $('banner');
  document.body.classList.toggle('stale', kind !== 'ok');
  const ms = interval();
  const retry = ms ? ' Retrying every ' + ms / 1000 + ' s.' : ' Live updates are paused: press Refresh to try again.';
  const stale = connection.lastOk
    ? 'The data below is from ' + clock(connection.lastOk) + ' and may be out of date.'
    : 'No data has been loaded.';
  let parts = null;
  if (kind === 'unauthorised') {
    parts = [el('strong', {}, 'Unauthorised.'), ' The server refused the API token (' + connection.message
      + '). Enter the right token above.', el('br'), stale];
  } else if (kind === 'disconnected') {
    parts = [el('strong', {}, 'Disconnected.'), ' ' + connection.message + ' (since ' + clock(connection.since) + ').'
      + retry, el('br'), stale];
  }
  banner.hidden = !parts;
  banner.dataset.kind = kind;
  if (parts) morph(banner, parts.map((p) => (typeof p === 'string' ? document.createTextNode(p) : p)));
  const updated = $('updated');
  const text = kind === 'ok' ? 'updated ' + clock(connection.lastOk) : 'stale · last updated ' + clock(connection.lastOk);
  if (updated.textContent !== text) updated.textContent = text;
  updated.classList.toggle('stale-text', kind !== 'ok');
}

function flash(text, isError) {
  const node = $('flash');
  node.textContent = text;
  node.className = isError ? 'error-text' : '';
}

// ---- routing ---------------------------------------------------------------

function onRoute() {
  const before = app.route;
  app.route = parseRoute(location.hash);
  if (app.route.view === 'tasks') tasks.syncFilters(app.route);
  render();
  if (routeKey(before) !== routeKey(app.route)) refresh();
}

/** Goes to `href`; `replace` changes the current history entry instead of adding one. */
function navigate(href, replace) {
  if (replace) {
    history.replaceState(null, '', href);
    onRoute();
  } else if (location.hash === href) {
    onRoute();
  } else {
    location.hash = href;
  }
}

// ---- events ----------------------------------------------------------------

function label(target) {
  return (target.textContent || target.dataset.action).trim().toLowerCase();
}

async function onClick(event) {
  const target = event.target.closest('[data-action]');
  if (!target) {
    openRow(event);
    return;
  }
  const handler = ACTIONS[target.dataset.action];
  if (!handler) return;
  const name = label(target);
  const isButton = target.tagName === 'BUTTON';
  if (isButton) target.disabled = true;
  let result;
  let failed = false;
  try {
    result = await handler({ ...target.dataset }, target, shown.data);
  } catch (err) {
    failed = true;
    app.flash(name + ': ' + err.message, true);
  } finally {
    if (isButton) target.disabled = false;
  }
  if (result === SILENT) {
    render();
    return;
  }
  if (!failed) app.flash(typeof result === 'string' ? result : name + ': done');
  if (!failed && result !== 'kept' && target.dataset.action === 'delete' && app.route.view === 'task') navigate('#/tasks', false);
  refresh();
}

/** A control that acts on a change (a `select`, `data-change`): only the page changes. */
async function onChange(event) {
  const target = event.target.closest('[data-change]');
  const handler = target && ACTIONS[target.dataset.change];
  if (!handler) return;
  if ((await handler({ ...target.dataset }, target, shown.data)) === SILENT) render();
}

/** A click on a task row (not on its controls, not ending a text selection) opens the task. */
function openRow(event) {
  const row = event.target.closest('tr[data-href]');
  if (!row || event.target.closest('a, button, input, label, select, .select')) return;
  const selection = window.getSelection();
  if (selection && !selection.isCollapsed && row.contains(selection.anchorNode)) return;
  navigate(row.dataset.href, false);
}

function bind() {
  document.addEventListener('click', onClick);
  document.addEventListener('change', onChange);
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setToken($('token').value.trim());
    typesLoaded = false;
    app.flash('token saved');
    refresh();
  });
  const select = $('interval');
  select.value = String(interval());
  select.addEventListener('change', () => {
    localStorage.setItem('taskq-interval', select.value);
    if (interval() > 0) refresh();
    else clearTimeout(timer);
    renderConnection();
  });
  $('refresh-now').addEventListener('click', () => refresh());
  window.addEventListener('hashchange', onRoute);
  tasks.bindFilters(navigate);
  schedules.bindForm();
  submit.bindForm();
  pending.bindDragging($('view-pending'));
}

function start() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('token')) {
    setToken(hash.get('token'));
    // The token leaves the address bar (and the history).
    history.replaceState(null, '', location.pathname + location.search);
  }
  $('token').value = token();
  app.refresh = refresh;
  app.render = render;
  app.flash = flash;
  app.navigate = navigate;
  bind();
  app.route = parseRoute(location.hash);
  if (app.route.view === 'tasks') tasks.syncFilters(app.route);
  render();
  refresh();
}

start();
