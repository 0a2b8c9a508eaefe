// One workflow at its own address (#/workflows/<id>): its state, a cancel
// button while it runs, its steps drawn as a graph (a column per depth,
// an edge from each parent to its child, each step a link to its task),
// and the same steps as a table for screen readers and narrow screens.

import { api, isTaskId } from './api.js';
import { el, actionButton, empty, shortId, stateBadge, timeEl } from './dom.js';
import { taskHref, tasksHref } from './routes.js';

/** The graph's geometry, in CSS pixels. */
const BOX = { width: 190, height: 66 };
const GAP = { column: 56, row: 14 };

export async function load(route) {
  if (!isTaskId(route.id)) return { missing: '“' + route.id + '” is not a workflow id (a UUID).' };
  try {
    return { workflow: await api('GET', '/workflows/' + encodeURIComponent(route.id)) };
  } catch (err) {
    if (err.status === 404) return { missing: 'No workflow has the id ' + route.id + ': its steps were deleted, or it never existed.' };
    throw err;
  }
}

/**
 * Each step's depth: 0 for a root, else one more than its deepest parent.
 * Steps come in submission order, which need not put parents first, so
 * depths are settled by repeated passes (the graph has no cycle: the
 * server refuses one).
 */
export function depths(steps) {
  const depth = new Map(steps.map((s) => [s.id, 0]));
  for (let pass = 0, changed = true; changed && pass <= steps.length; pass++) {
    changed = false;
    for (const s of steps) {
      const parents = (s.step && s.step.parents) || [];
      const want = parents.length ? 1 + Math.max(...parents.map((p) => depth.get(p) ?? 0)) : 0;
      if (want !== depth.get(s.id)) {
        depth.set(s.id, want);
        changed = true;
      }
    }
  }
  return depth;
}

/** Where each step's box goes: `{ x, y, depth }` by id, and the graph's size. */
function layout(steps) {
  const depth = depths(steps);
  const rows = [];
  const place = new Map();
  for (const s of steps) {
    const d = depth.get(s.id);
    const row = rows[d] = (rows[d] || 0) + 1;
    place.set(s.id, {
      depth: d,
      x: d * (BOX.width + GAP.column),
      y: (row - 1) * (BOX.height + GAP.row),
    });
  }
  const columns = rows.length;
  const tallest = Math.max(...rows.map((n) => n || 0));
  return {
    place,
    width: columns * BOX.width + (columns - 1) * GAP.column,
    height: tallest * BOX.height + (tallest - 1) * GAP.row,
  };
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, String(value));
  }
  node.append(...children);
  return node;
}

const nameOf = (task) => (task.step ? task.step.name : task.id);

function graph(workflow) {
  const steps = workflow.steps;
  const { place, width, height } = layout(steps);
  const byId = new Map(steps.map((s) => [s.id, s]));
  // A curve from the middle of the parent's right side to the middle of
  // the child's left side.
  const edges = workflow.edges.map(([from, to]) => {
    const a = place.get(from);
    const b = place.get(to);
    if (!a || !b) return null;
    const [x1, y1] = [a.x + BOX.width, a.y + BOX.height / 2];
    const [x2, y2] = [b.x, b.y + BOX.height / 2];
    const bend = Math.max(16, (x2 - x1) / 2);
    const parent = byId.get(from);
    return svg('path', {
      d: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
      class: 'wf-edge' + (parent && parent.state === 'FINISHED' ? ' done' : ''),
      dataset: { key: from + '>' + to, from, to },
    });
  }).filter(Boolean);
  const lines = svg('svg', {
    class: 'wf-edges', width, height, viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true', focusable: 'false',
  }, ...edges);
  const boxes = steps.map((task) => {
    const at = place.get(task.id);
    const box = el('a', {
      href: taskHref(task.id), className: 'wf-step card-' + task.state,
      title: nameOf(task) + ' (' + task.task_type + '): ' + task.state + ' — open its task',
      dataset: { key: task.id, id: task.id, name: nameOf(task), state: task.state, depth: String(at.depth) },
    },
    el('span', { className: 'wf-name' }, nameOf(task)),
    el('span', { className: 'wf-type' }, task.task_type),
    stateBadge(task.state));
    box.style.left = at.x + 'px';
    box.style.top = at.y + 'px';
    box.style.width = BOX.width + 'px';
    box.style.height = BOX.height + 'px';
    return box;
  });
  const canvas = el('div', { className: 'wf-canvas' }, lines, ...boxes);
  canvas.style.width = width + 'px';
  canvas.style.height = height + 'px';
  return el('div', {
    className: 'graph-wrap', id: 'workflow-graph', role: 'group',
    'aria-label': 'steps of the workflow, by depth; each opens its task',
  }, canvas);
}

function cell(label, ...children) { return el('td', { dataset: { label } }, ...children); }

function stepsTable(workflow) {
  const names = new Map(workflow.steps.map((s) => [s.id, nameOf(s)]));
  const rows = workflow.steps.map((task) => {
    const step = task.step || { parents: [], waiting_on: 0 };
    const parents = step.parents || [];
    return el('tr', { dataset: { key: task.id, id: task.id, state: task.state } },
      el('th', { scope: 'row', dataset: { label: 'step' } }, el('a', { href: taskHref(task.id) }, nameOf(task))),
      cell('type', task.task_type),
      cell('state', stateBadge(task.state)),
      cell('waiting on', task.state === 'WAITING' ? String(step.waiting_on) : '—'),
      cell('parents', parents.length
        ? parents.flatMap((p, i) => [i ? ', ' : '', el('a', { href: taskHref(p) }, names.get(p) || shortId(p))])
        : '—'),
      cell('ended', task.finished_at ? timeEl(task.finished_at, 'ended ') : '—'));
  });
  return el('div', { className: 'table-wrap' }, el('table', { id: 'workflow-steps', className: 'cards-narrow' },
    el('caption', { className: 'visually-hidden' }, 'steps of the workflow'),
    el('thead', {}, el('tr', {}, ...['step', 'type', 'state', 'waiting on', 'parents', 'ended']
      .map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows)));
}

/** The workflow's own state, as a badge in the task states' colours. */
function workflowBadge(state) {
  return el('span', { className: 'badge state-' + state, id: 'workflow-state' }, state);
}

export function render(route, data) {
  const back = el('p', {}, el('a', { href: tasksHref({}) }, '← all tasks'));
  if (!data) return [back, el('h2', {}, 'Workflow'), el('p', { className: 'muted' }, 'Loading…')];
  if (data.missing) return [back, el('h2', {}, 'Workflow'), empty(data.missing)];
  const workflow = data.workflow;
  const count = (state) => workflow.steps.filter((s) => s.state === state).length;
  const tally = ['WAITING', 'PENDING', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELLED', 'EXPIRED']
    .filter((s) => count(s) > 0).map((s) => count(s) + ' ' + s.toLowerCase()).join(' · ');
  return [
    back,
    el('h2', { id: 'workflow-heading' }, 'Workflow ', el('code', { id: 'workflow-id' }, workflow.id)),
    el('p', { className: 'workflow-summary', dataset: { key: 'summary' } },
      workflowBadge(workflow.state), ' ', workflow.steps.length + ' steps: ' + tally, ' · created ',
      timeEl(workflow.created_at), workflow.finished_at ? [' · ended ', timeEl(workflow.finished_at)] : null),
    el('div', { className: 'detail-actions', dataset: { key: 'actions:' + workflow.state } },
      workflow.state === 'RUNNING'
        ? el('div', { className: 'actions' }, actionButton('cancel workflow', 'workflow-cancel', { id: workflow.id },
          { id: 'workflow-cancel', title: 'cancel every step that has not ended' }))
        : null),
    el('p', { className: 'hint' }, 'A failed step cancels the steps after it; retrying it from its task page runs them again.'),
    graph(workflow),
    el('h3', {}, 'Steps'),
    stepsTable(workflow),
  ];
}

export const actions = {
  'workflow-cancel': async (data) => {
    if (!confirm('Cancel every step of this workflow that has not ended?')) return 'kept';
    const after = await api('POST', '/workflows/' + encodeURIComponent(data.id) + '/cancel');
    return 'workflow ' + after.state.toLowerCase();
  },
};
