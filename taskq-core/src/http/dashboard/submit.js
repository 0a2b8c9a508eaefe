// The submit form (#/submit), generated from the chosen task type's params
// JSON schema: one field per property, a JSON box otherwise. A 422 names
// the field at fault, and the form marks it.

import { api } from './api.js';
import { $, el } from './dom.js';
import { taskHref } from './routes.js';
import { app } from './state.js';

export function fillTypes() {
  const select = $('submit-type');
  const chosen = select.value;
  select.replaceChildren(...app.types.map((t) => el('option', { value: t.name }, t.name)));
  if (chosen && app.types.some((t) => t.name === chosen)) select.value = chosen;
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

/** The field kind of a property: string, integer, number, boolean, enum or json. */
function kindOf(schema) {
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null');
  if (Array.isArray(schema.enum)) return 'enum';
  return ['string', 'integer', 'number', 'boolean'].includes(type) ? type : 'json';
}

function inputFor(kind, prop) {
  if (kind === 'boolean') return el('input', { type: 'checkbox' });
  if (kind === 'integer' || kind === 'number') return el('input', { type: 'number', step: kind === 'integer' ? '1' : 'any' });
  if (kind === 'enum') return el('select', {}, ...prop.enum.map((v) => el('option', { value: JSON.stringify(v) }, String(v))));
  if (kind === 'json') return el('textarea', { rows: '2', placeholder: 'JSON' });
  return el('input', { type: 'text' });
}

function renderParamsForm() {
  const type = app.types.find((t) => t.name === $('submit-type').value);
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
    fieldset.append(el('label', { dataset: { field: 'params' } }, 'params (JSON) ',
      el('textarea', { name: 'params', rows: '4', dataset: { kind: 'json' } })));
    return;
  }
  for (const [name, raw] of Object.entries(properties)) {
    const prop = resolve(raw, root);
    const kind = kindOf(prop);
    const input = inputFor(kind, prop);
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
  result.replaceChildren('submitting…');
  delete result.dataset.id;
  for (const label of document.querySelectorAll('#submit-form label.invalid')) label.classList.remove('invalid');
  const body = { task_type: $('submit-type').value };
  try {
    body.params = collectParams();
  } catch (err) {
    result.className = 'error-text';
    result.replaceChildren('params: not valid JSON (' + err.message + ')');
    return;
  }
  if ($('submit-queue').value.trim()) body.queue = $('submit-queue').value.trim();
  if ($('submit-priority').value !== '') body.priority = Number($('submit-priority').value);
  if ($('submit-countdown').value !== '') body.countdown = Number($('submit-countdown').value);
  try {
    const task = await api('POST', '/tasks', body);
    result.className = 'ok-text';
    result.replaceChildren('Submitted ' + task.task_type + ' ', el('a', { href: taskHref(task.id), className: 'mono' }, task.id));
    result.dataset.id = task.id;
    app.refresh();
  } catch (err) {
    result.className = 'error-text';
    const field = err.details && err.details.field;
    result.replaceChildren(err.message + (field ? ' (field: ' + field + ')' : ''));
    if (field) {
      const top = String(field).split(/[.[]/).slice(0, 2).join('.');
      for (const label of document.querySelectorAll('#submit-form label')) {
        if (label.dataset.field === top) label.classList.add('invalid');
      }
    }
  }
}

export function bindForm() {
  $('submit-type').addEventListener('change', renderParamsForm);
  $('submit-form').addEventListener('submit', submitTask);
}
