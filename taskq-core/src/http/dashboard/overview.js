// The overview: tasks per state, each queue's depth, latency, running and
// failed tasks and workers, with pause / resume / purge, the throughput of
// the last hour (charts.js) and the latest failures.

import { api, listTasks, oldestPending } from './api.js';
import { MINUTES, actions as chartActions, drawThroughput, throughputSection } from './charts.js';
import { el, actionButton, empty, number, span, absolute, timeEl, shortId, stateBadge } from './dom.js';
import { pendingHref, taskHref, tasksHref } from './routes.js';
import { app } from './state.js';

/** How many of the latest failures the overview lists. */
const LATEST_FAILURES = 5;

/**
 * How long the oldest due task of a queue has waited, from its oldest
 * submitted pending tasks: exact when they are all of the queue's pending
 * tasks, else a lower bound (a newer task may have been due for longer).
 */
async function latencyOf(stats) {
  if (!(stats.pending > 0)) return { none: true };
  const total = stats.pending + stats.scheduled;
  const tasks = await oldestPending(stats.queue, total);
  const now = Date.now();
  const due = tasks.map((t) => Date.parse(t.scheduled_at)).filter((at) => at <= now);
  if (!due.length) return { unknown: true, looked: tasks.length };
  const since = Math.min(...due);
  return { since, ms: now - since, lowerBound: tasks.length < total };
}

export async function load() {
  const queues = app.queues;
  const [failed, latency, weights, failures, throughput, types] = await Promise.all([
    Promise.all(queues.map((q) => listTasks({ state: 'FAILED', queue: q.queue }, 1, 1).then((p) => p.total))),
    Promise.all(queues.map(latencyOf)),
    // The key weights of the fair queues (the others have no turns).
    Promise.all(queues.map((q) => (q.fair
      ? api('GET', '/queues/' + encodeURIComponent(q.queue) + '/fair/weights').then((w) => w.weights)
      : []))),
    listTasks({ state: 'FAILED' }, 1, LATEST_FAILURES),
    api('GET', '/stats/throughput?minutes=' + MINUTES),
    api('GET', '/task-types'),
  ]);
  return {
    queues,
    throughput,
    types,
    failed: new Map(queues.map((q, i) => [q.queue, failed[i]])),
    latency: new Map(queues.map((q, i) => [q.queue, latency[i]])),
    weights: new Map(queues.map((q, i) => [q.queue, weights[i]])),
    failures: failures.tasks,
  };
}

export function render(_route, data) {
  return [
    el('h2', { id: 'overview-heading' }, 'Overview'),
    stateCards(),
    el('h3', {}, 'Queues'),
    data ? queuesTable(data) : el('p', { className: 'muted' }, 'Loading…'),
    ...typeLimits(data && data.types),
    ...throughputSection(data && data.throughput, app.queues.map((q) => q.queue)),
    el('h3', {}, 'Latest failures'),
    data ? latestFailures(data.failures) : null,
  ];
}

/** One card per state, each a link to its task list. */
export function stateCards() {
  const counts = app.counts;
  const pending = app.queues.reduce((sum, q) => sum + q.pending, 0);
  const scheduled = app.queues.reduce((sum, q) => sum + q.scheduled, 0);
  const cards = [
    ['WAITING', 'workflow steps waiting for their parents'],
    ['PENDING', number(pending) + ' due · ' + number(scheduled) + ' scheduled'],
    ['RUNNING', null], ['FINISHED', null], ['FAILED', null], ['CANCELLED', null],
    ['EXPIRED', 'not started before their deadline'],
  ];
  return el('ul', { className: 'cards', id: 'state-cards', 'aria-label': 'tasks per state' },
    ...cards.map(([state, sub]) => el('li', { dataset: { key: state } },
      el('a', { className: 'card card-' + state, href: tasksHref({ state }), dataset: { state } },
        el('span', { className: 'count' }, counts[state] === undefined ? '…' : number(counts[state])),
        el('span', { className: 'name' }, state.toLowerCase()),
        sub ? el('span', { className: 'sub' }, sub) : null))));
}

function latencyCell(latency) {
  if (!latency || latency.none) return el('span', { className: 'muted', title: 'no task is due' }, '—');
  if (latency.unknown) {
    return el('span', { className: 'muted', title: 'the ' + latency.looked + ' oldest submitted pending tasks are all scheduled for later' }, 'n/a');
  }
  return el('span', {
    title: 'the oldest due task has waited since ' + absolute(new Date(latency.since))
      + (latency.lowerBound ? ' (at least: only the oldest submitted pending tasks were looked at)' : ''),
  }, (latency.lowerBound ? '≥ ' : '') + span(latency.ms));
}

function cell(label, ...children) { return el('td', { dataset: { label } }, ...children); }

/**
 * Running tasks, linked to their list; "running / limit" when the queue has
 * a limit (at most that many run at once on every worker together).
 */
function runningCell(q) {
  const link = el('a', { href: tasksHref({ state: 'RUNNING', filters: { queue: q.queue } }) }, number(q.running));
  if (q.limit == null) return link;
  return el('span', { className: 'queue-limit', title: 'at most ' + q.limit + ' run at once, across every worker' },
    link, ' / ' + number(q.limit));
}

/** How many key weights the fair badge names; the rest are counted. */
const WEIGHTS_SHOWN = 3;

/**
 * A fair queue's badge, with its keys' weights ("acme ×3"), the first
 * few by name and the rest counted, every one in the title.
 */
function fairBadge(weights) {
  const listed = (weights || []).map((w) => w.key + ' ×' + w.weight);
  const title = 'fair: its concurrency keys take turns'
    + (listed.length ? '; weights (turns a round, others 1): ' + listed.join(', ') : '');
  const shown = listed.slice(0, WEIGHTS_SHOWN).join(', ')
    + (listed.length > WEIGHTS_SHOWN ? ' +' + (listed.length - WEIGHTS_SHOWN) + ' more' : '');
  return el('span', { className: 'queue-fair-state', title },
    el('span', { className: 'badge queue-fair' }, 'fair'),
    shown ? el('span', { className: 'queue-fair-weights' }, ' ' + shown) : null);
}

/**
 * The queue's state: paused or active, "fair" when its keys take turns
 * (with its keys' weights), and its rate limit ("≤ 100 / 1 min") with,
 * while its bucket is empty, when its held-back tasks may start next.
 */
function stateCell(q, weights) {
  const state = el('span', { className: 'badge ' + (q.paused ? 'queue-paused' : 'queue-active') }, q.paused ? 'paused' : 'active');
  const badge = q.fair
    ? el('span', { className: 'queue-state' }, state, ' ', fairBadge(weights))
    : state;
  if (!q.rate_limit) return badge;
  const { starts, period_ms: period } = q.rate_limit;
  const rate = el('span', { className: 'queue-rate', title: 'at most ' + starts + (starts === 1 ? ' start' : ' starts') + ' per ' + span(period) + ', across every worker' },
    '≤ ' + number(starts) + ' / ' + span(period));
  const held = q.rate_held_until
    ? el('span', { className: 'queue-rate-held', title: 'the rate limit holds the pending tasks back; the next may start then' },
      'held until ', timeEl(q.rate_held_until))
    : null;
  return el('span', { className: 'queue-state' }, badge, ' ', rate, held ? ' ' : null, held);
}

function queueActions(q) {
  const path = '/queues/' + encodeURIComponent(q.queue);
  return el('div', { className: 'actions' },
    q.paused
      ? actionButton('resume', 'queue-resume', { path }, { 'aria-label': 'resume queue ' + q.queue })
      : actionButton('pause', 'queue-pause', { path }, { 'aria-label': 'pause queue ' + q.queue }),
    actionButton('purge pending', 'queue-purge', { path, queue: q.queue }, { 'aria-label': 'purge pending tasks of queue ' + q.queue, title: 'cancel every pending task of the queue' }));
}

function queuesTable(data) {
  if (!data.queues.length) {
    return empty('No queues yet: a queue appears with its first task. ', el('a', { href: '#/submit' }, 'Submit a task'), '.');
  }
  const rows = data.queues.flatMap((q) => [
    el('tr', { dataset: { key: 'q:' + q.queue, queue: q.queue } },
      el('th', { scope: 'row', dataset: { label: 'queue' } }, el('a', { href: tasksHref({ filters: { queue: q.queue } }) }, q.queue)),
      cell('due', el('a', { href: pendingHref(q.queue), title: 'pending tasks due now: the queue depth' }, number(q.pending))),
      cell('latency', latencyCell(data.latency.get(q.queue))),
      cell('scheduled', number(q.scheduled)),
      cell('running', runningCell(q)),
      cell('failed', el('a', { href: tasksHref({ state: 'FAILED', filters: { queue: q.queue } }) }, number(data.failed.get(q.queue)))),
      cell('workers', el('span', { className: 'live-workers' }, number(q.live_workers))),
      cell('state', stateCell(q, data.weights.get(q.queue))),
      el('td', { className: 'actions-cell' }, queueActions(q))),
    unclaimableRow(q),
  ]);
  return el('div', { className: 'table-wrap' }, el('table', { id: 'queues', className: 'cards-narrow' },
    el('thead', {}, el('tr', {},
      ...['queue', 'due', 'latency', 'scheduled', 'running', 'failed', 'workers', 'state'].map((h) => el('th', { scope: 'col' }, h)),
      el('th', { scope: 'col' }, el('span', { className: 'visually-hidden' }, 'actions')))),
    el('tbody', {}, ...rows.filter(Boolean))));
}

/**
 * The warning row under a queue whose pending tasks no live worker can run
 * (none serves the queue, or none has a handler for their type), or null.
 */
function unclaimableRow(q) {
  if (!(q.unclaimable > 0)) return null;
  const types = (q.unclaimable_types || []).map((t) => t.task_type + ' ×' + t.count).join(', ');
  const noun = q.unclaimable === 1 ? 'task' : 'tasks';
  const why = q.live_workers > 0
    ? ' pending ' + noun + ' no live worker of this queue can run: ' + types
      + ' (no worker has their handler: is the crate that declares them linked into the worker binary?)'
    : ' pending ' + noun + ' wait: no live worker serves this queue (' + types + ')';
  return el('tr', { className: 'unclaimable', dataset: { key: 'u:' + q.queue, unclaimable: q.queue } },
    el('td', { colspan: '9' }, el('strong', {}, '⚠ ' + q.unclaimable), why));
}

/**
 * The task types with a limit, a key limit or a rate limit: running /
 * limit each (at most that many of the type run at once on every worker
 * and queue together), for a key limit how many keys run tasks,
 * with the busiest keys, and the rate limits with what they hold back.
 * Nothing when no type has one.
 */
function typeLimits(types) {
  const limited = (types || []).filter((t) => t.limit != null || t.key_limit != null
    || t.rate_limit != null || t.key_rate_limit != null);
  if (!limited.length) return [];
  const byKey = (t) => {
    if (t.key_limit == null) return '–';
    const top = (t.top_keys || []).slice(0, 3).map((k) => k.key + ' ' + number(k.running)).join(', ');
    const more = t.running_keys > Math.min((t.top_keys || []).length, 3) ? ', …' : '';
    return number(t.running_keys) + (t.running_keys === 1 ? ' key' : ' keys') + ' (≤ ' + number(t.key_limit) + ' each)'
      + (top ? ': ' + top + more : '');
  };
  return [
    el('h3', {}, 'Task type limits'),
    el('div', { className: 'table-wrap' }, el('table', { id: 'type-limits', className: 'cards-narrow' },
      el('thead', {}, el('tr', {}, ...['task type', 'running / limit', 'running by key', 'rate'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, ...limited.map((t) => el('tr', { dataset: { key: 't:' + t.name, taskType: t.name } },
        el('th', { scope: 'row', dataset: { label: 'task type' } },
          el('a', { href: tasksHref({ state: 'RUNNING', filters: { type: t.name } }) }, t.name)),
        cell('running / limit', t.limit == null ? number(t.running)
          : el('span', { className: 'type-limit', title: 'at most ' + t.limit + ' run at once, across every worker' },
            number(t.running) + ' / ' + number(t.limit))),
        cell('running by key', el('span', { className: 'key-limit' }, byKey(t))),
        cell('rate', typeRate(t))))))),
  ];
}

/** A type's rate limits: `≤ 100 / 1m` (held until …), `≤ 10 / 1s per key` (n keys held). */
function typeRate(t) {
  const parts = [];
  if (t.rate_limit) {
    const { starts, period_ms: period } = t.rate_limit;
    parts.push(el('span', { className: 'type-rate', title: 'at most ' + starts + ' starts per ' + span(period) + ', across every worker' },
      '≤ ' + number(starts) + ' / ' + span(period)));
    if (t.rate_held_until) {
      parts.push(' ', el('span', { className: 'type-rate-held', title: 'the rate limit holds the type\'s pending tasks back; the next may start then' },
        'held until ', timeEl(t.rate_held_until)));
    }
  }
  if (t.key_rate_limit) {
    const { starts, period_ms: period } = t.key_rate_limit;
    if (parts.length) parts.push(el('br'));
    parts.push(el('span', { className: 'key-rate', title: 'at most ' + starts + ' starts per ' + span(period) + ' for each concurrency key' },
      '≤ ' + number(starts) + ' / ' + span(period) + ' per key'));
    if (t.held_keys) {
      parts.push(' ', el('span', { className: 'key-rate-held' },
        number(t.held_keys) + (t.held_keys === 1 ? ' key held' : ' keys held')));
    }
  }
  return parts.length ? el('span', {}, ...parts) : '–';
}

function latestFailures(tasks) {
  if (!tasks.length) return empty('No failed tasks.');
  return el('ul', { className: 'failures', id: 'latest-failures' }, ...tasks.map((t) => el('li', { dataset: { key: t.id } },
    el('a', { href: taskHref(t.id), className: 'mono', title: t.id }, shortId(t.id)), ' ',
    stateBadge(t.state), ' ', el('strong', {}, t.task_type), ' in ', t.queue, ' · ',
    timeEl(t.finished_at), el('br'),
    el('span', { className: 'error-text' }, t.error ? t.error.kind + ': ' + t.error.message : 'no error recorded')))
    .concat(el('li', { dataset: { key: 'all' } }, el('a', { href: tasksHref({ state: 'FAILED' }) }, 'All failed tasks →'))));
}

/** After the page shows the view: the chart draws into its host. */
export function afterRender(_route, data) {
  drawThroughput(data && data.throughput);
}

export const actions = {
  ...chartActions,
  'queue-pause': (data) => api('POST', data.path + '/pause'),
  'queue-resume': (data) => api('POST', data.path + '/resume'),
  'queue-purge': async (data) => {
    if (!confirm('Cancel every pending task of queue ' + data.queue + '?')) return 'kept';
    const result = await api('POST', data.path + '/purge');
    return 'cancelled ' + result.cancelled + ' pending ' + (result.cancelled === 1 ? 'task' : 'tasks');
  },
};
