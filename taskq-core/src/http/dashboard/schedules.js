// Schedules (#/schedules): the list with enable / disable / run now /
// delete, and the form that creates one.

import { api } from './api.js';
import { $, el, actionButton, empty, number, timeEl } from './dom.js';
import { app } from './state.js';

export async function load() {
  return { schedules: (await api('GET', '/schedules?page_size=100')).schedules };
}

function timing(s) {
  if (s.kind === 'interval') return 'every ' + s.every + ' s';
  if (s.kind === 'cron') return 'cron ' + s.expression + ' (' + s.time_zone + ')';
  if (s.kind === 'once') return ['once at ', timeEl(s.at)];
  return String(s.kind);
}

// A workflow schedule shows its steps instead of a task type.
function target(s) {
  if (!s.workflow) return s.task_type;
  const names = s.workflow.steps.map((step) => step.name);
  const shown = names.length > 4 ? names.slice(0, 4).join(', ') + ', …' : names.join(', ');
  return 'workflow (' + names.length + ' steps: ' + shown + ')';
}

// The type select's option for a workflow: the JSON field then holds the spec.
const WORKFLOW = '__workflow__';

function cell(label, ...children) { return el('td', { dataset: { label } }, ...children); }

export function render(_route, data) {
  if (!data) return [el('p', { className: 'muted' }, 'Loading…')];
  if (!data.schedules.length) return [empty('No schedules yet: create one below, or declare one in code.')];
  return [el('div', { className: 'table-wrap' }, el('table', { id: 'schedules', className: 'cards-narrow' },
    el('thead', {}, el('tr', {}, ...['name', 'task', 'timing', 'next run', 'runs', 'state']
      .map((h) => el('th', { scope: 'col' }, h)), el('th', { scope: 'col' }, el('span', { className: 'visually-hidden' }, 'actions')))),
    el('tbody', {}, ...data.schedules.map((s) => {
      const path = '/schedules/' + encodeURIComponent(s.name);
      const label = (verb) => ({ 'aria-label': verb + ' schedule ' + s.name });
      return el('tr', { dataset: { key: s.name, name: s.name } },
        el('th', { scope: 'row', dataset: { label: 'name' } }, s.name),
        cell('task', target(s)), cell('timing', ...[timing(s)].flat()),
        cell('next run', s.next_run_at ? timeEl(s.next_run_at) : '—'), cell('runs', number(s.run_count)),
        cell('state', el('span', { className: 'badge ' + (s.enabled ? 'schedule-enabled' : 'schedule-disabled') }, s.enabled ? 'enabled' : 'disabled')),
        el('td', { className: 'actions-cell' }, el('div', { className: 'actions' },
          s.enabled
            ? actionButton('disable', 'schedule-disable', { path }, label('disable'))
            : actionButton('enable', 'schedule-enable', { path }, label('enable')),
          actionButton('run now', 'schedule-run', { path }, label('run now')),
          actionButton('delete', 'schedule-delete', { path, name: s.name }, label('delete')))));
    }))))];
}

export const actions = {
  'schedule-enable': (data) => api('POST', data.path + '/enable'),
  'schedule-disable': (data) => api('POST', data.path + '/disable'),
  'schedule-run': (data) => api('POST', data.path + '/run'),
  'schedule-delete': async (data) => {
    if (!confirm('Delete schedule ' + data.name + '?')) return 'kept';
    await api('DELETE', data.path);
    return undefined;
  },
};

async function createSchedule(event) {
  event.preventDefault();
  const result = $('schedule-result');
  result.className = '';
  result.textContent = 'creating…';
  const kind = $('schedule-kind').value;
  const whenText = $('schedule-when').value.trim();
  const type = $('schedule-type').value;
  const body = { name: $('schedule-name').value.trim(), kind };
  const field = type === WORKFLOW ? 'workflow' : 'params';
  try {
    const json = JSON.parse($('schedule-params').value.trim() || '{}');
    if (type === WORKFLOW) body.workflow = json;
    else Object.assign(body, { task_type: type, params: json });
  } catch (err) {
    result.className = 'error-text';
    result.textContent = field + ': not valid JSON (' + err.message + ')';
    return;
  }
  if (kind === 'interval') body.every = Number(whenText);
  else if (kind === 'cron') body.expression = whenText;
  else {
    // Anything Date parses (local time without a zone), sent as RFC 3339.
    const at = new Date(whenText);
    body.at = isNaN(at) ? whenText : at.toISOString();
  }
  if (kind === 'cron' && $('schedule-tz').value.trim()) body.time_zone = $('schedule-tz').value.trim();
  try {
    const schedule = await api('POST', '/schedules', body);
    result.className = 'ok-text';
    result.textContent = 'Created schedule ' + schedule.name;
    app.refresh();
  } catch (err) {
    result.className = 'error-text';
    const field = err.details && err.details.field;
    result.textContent = err.message + (field ? ' (field: ' + field + ')' : '');
  }
}

export function bindForm() {
  $('schedule-form').addEventListener('submit', createSchedule);
}

export function fillTypes() {
  const select = $('schedule-type');
  const chosen = select.value;
  select.replaceChildren(...app.types.map((t) => el('option', { value: t.name }, t.name)),
    el('option', { value: WORKFLOW }, 'a workflow (its steps as JSON below)'));
  if (chosen) select.value = chosen;
}
