// Workers (#/workers): every worker sharing the backend, on any host, with
// pause / resume / graceful shutdown.

import { api } from './api.js';
import { el, actionButton, empty, number, timeEl } from './dom.js';

const WORKER_STATES = ['running', 'paused', 'stopping', 'gone'];

export async function load() {
  return { workers: await api('GET', '/workers') };
}

/** Where a worker stands, and where it was asked to go if not there yet. */
function workerState(w) {
  const name = WORKER_STATES.includes(w.state) ? w.state : 'gone';
  const badge = el('span', { className: 'badge worker-' + name }, String(w.state));
  const heading = w.requested && w.requested !== w.state && w.state !== 'gone' && w.state !== 'stopping';
  return heading ? [badge, ' → ' + w.requested] : [badge];
}

function cell(label, ...children) { return el('td', { dataset: { label } }, ...children); }

function controls(w) {
  // Where the worker is headed decides which controls make sense.
  const heading = w.state === 'gone' || w.state === 'stopping' ? w.state : (w.requested || w.state);
  const data = { path: '/workers/' + encodeURIComponent(w.id), worker: w.id };
  return el('div', { className: 'actions' },
    heading === 'running' ? actionButton('pause', 'worker-pause', data, { 'aria-label': 'pause worker ' + w.id }) : null,
    heading === 'paused' ? actionButton('resume', 'worker-resume', data, { 'aria-label': 'resume worker ' + w.id }) : null,
    heading === 'running' || heading === 'paused'
      ? actionButton('shutdown', 'worker-shutdown', data, { 'aria-label': 'shutdown worker ' + w.id }) : null);
}

export function render(_route, data) {
  const parts = [
    el('h2', { id: 'workers-heading' }, 'Workers'),
    el('p', { className: 'hint' }, 'Every worker sharing this backend, on any host. Pause stops claiming (running tasks go on); shutdown is graceful.'),
  ];
  if (!data) return parts.concat(el('p', { className: 'muted' }, 'Loading…'));
  if (!data.workers.length) return parts.concat(empty('No worker has registered with this backend.'));
  return parts.concat(el('div', { className: 'table-wrap' }, el('table', { id: 'workers', className: 'cards-narrow' },
    el('thead', {}, el('tr', {}, ...['worker', 'host · pid', 'queues', 'task types', 'in flight', 'state', 'last heartbeat', 'started']
      .map((h) => el('th', { scope: 'col' }, h)), el('th', { scope: 'col' }, el('span', { className: 'visually-hidden' }, 'actions')))),
    el('tbody', {}, ...data.workers.map((w) => {
      // Compact: the first few names, the rest counted; all of them on hover.
      const types = w.task_types || [];
      const shown = types.slice(0, 3).join(', ') + (types.length > 3 ? ' +' + (types.length - 3) + ' more' : '');
      return el('tr', { dataset: { key: w.id, worker: w.id, state: w.state } },
        el('td', { className: 'mono wide', dataset: { label: 'worker' } }, w.id),
        cell('host · pid', w.host + ' · ' + w.pid),
        cell('queues', (w.queues || []).map((q) => q.name + ' ×' + q.concurrency).join(', ')),
        el('td', { className: 'task-types mono wide', title: types.join('\n'), dataset: { label: 'task types' } }, types.length ? shown : '—'),
        el('td', { className: 'in-flight', title: (w.in_flight || []).join('\n'), dataset: { label: 'in flight' } }, number(w.in_flight_count)),
        cell('state', ...workerState(w)),
        cell('last heartbeat', timeEl(w.heartbeat_at)),
        cell('started', timeEl(w.started_at)),
        el('td', { className: 'actions-cell' }, controls(w)));
    })))));
}

export const actions = {
  'worker-pause': (data) => api('POST', data.path + '/pause'),
  'worker-resume': (data) => api('POST', data.path + '/resume'),
  'worker-shutdown': async (data) => {
    if (!confirm('Shut down worker ' + data.worker + ' gracefully?')) return 'kept';
    await api('POST', data.path + '/shutdown');
    return undefined;
  },
};
