// Building and updating the page. Values from task data become text nodes
// or DOM properties, never markup. Views are rebuilt as detached trees and
// merged into the page by `morph`, which leaves unchanged nodes alone, so
// a refresh keeps the operator's text selection, focus and scroll.

/**
 * Builds an element. `text` sets the text; `on*` are not supported (the
 * page handles events by delegation on `data-action`, so a merged node
 * never carries a handler of an older render); `checked`, `disabled`,
 * `hidden` are properties; everything else is an attribute. String and
 * number children become text nodes.
 */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'className') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'checked' || key === 'disabled' || key === 'hidden') node[key] = Boolean(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
}

export const $ = (id) => document.getElementById(id);

/**
 * Makes `parent`'s children look like `wanted` (detached nodes), touching
 * only what differs. Elements with `data-key` are matched by key, so a row
 * that moves keeps its node.
 */
export function morph(parent, wanted) {
  const keyed = new Map();
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === 1 && node.dataset.key !== undefined) keyed.set(node.dataset.key, node);
  }
  let cursor = parent.firstChild;
  for (const want of wanted) {
    const key = want.nodeType === 1 ? want.dataset.key : undefined;
    let have = cursor;
    if (key !== undefined) {
      const found = keyed.get(key);
      keyed.delete(key);
      if (found && found.tagName === want.tagName) {
        if (found !== cursor) parent.insertBefore(found, cursor);
        have = found;
      } else {
        have = null;
      }
    }
    if (have && compatible(have, want)) {
      patch(have, want);
      cursor = have.nextSibling;
    } else {
      parent.insertBefore(want, cursor);
    }
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

function compatible(have, want) {
  if (have.nodeType !== want.nodeType) return false;
  if (have.nodeType !== 1) return true;
  return have.tagName === want.tagName && have.dataset.key === want.dataset.key;
}

function patch(have, want) {
  if (have.nodeType !== 1) {
    if (have.data !== want.data) have.data = want.data;
    return;
  }
  for (const { name, value } of [...want.attributes]) {
    if (name !== 'style' && have.getAttribute(name) !== value) have.setAttribute(name, value);
  }
  for (const { name } of [...have.attributes]) {
    if (name !== 'style' && !want.hasAttribute(name)) have.removeAttribute(name);
  }
  // Through the CSSOM: the policy forbids style attributes set as text.
  if (have.style.cssText !== want.style.cssText) have.style.cssText = want.style.cssText;
  for (const prop of ['checked', 'disabled', 'hidden', 'indeterminate']) {
    if (prop in want && have[prop] !== want[prop]) have[prop] = want[prop];
  }
  // A chart's host keeps what its library drew (see charts.js).
  if (have.dataset.chart === undefined) morph(have, [...want.childNodes]);
}

// ---- times -----------------------------------------------------------------

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
const ABSOLUTE = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
});
const RELATIVE = new Intl.RelativeTimeFormat('en', { numeric: 'always', style: 'short' });

export function parseTime(value) {
  if (!value) return null;
  const date = new Date(value);
  return isNaN(date) ? null : date;
}

/** "7 Dec 2026, 14:03:22 CET (Europe/Berlin)": local time with its zone. */
export function local(date) {
  const text = ABSOLUTE.format(date);
  return text.endsWith(ZONE) ? text : text + ' (' + ZONE + ')';
}

/** The local time with its zone, and UTC: "… (Europe/Berlin) · 2026-12-07T13:03:22.000Z". */
export function absolute(date) {
  return local(date) + ' · ' + date.toISOString();
}

/** A length of time in words: "45 s", "3 min 4 s", "2 h 5 min", "3 d 4 h". */
export function span(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (ms < 1000) return Math.max(0, Math.round(ms)) + ' ms';
  if (s < 60) return s + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
  const h = Math.floor(m / 60);
  if (h < 48) return h + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
  return Math.floor(h / 24) + ' d' + (h % 24 ? ' ' + (h % 24) + ' h' : '');
}

/** "12 sec. ago", "in 5 min." — relative to `now`. */
export function relative(date, now = Date.now()) {
  const diff = (date.getTime() - now) / 1000;
  const abs = Math.abs(diff);
  if (abs < 1) return 'now';
  const [value, unit] = abs < 60 ? [diff, 'second'] : abs < 3600 ? [diff / 60, 'minute']
    : abs < 172800 ? [diff / 3600, 'hour'] : [diff / 86400, 'day'];
  return RELATIVE.format(Math.trunc(value), unit);
}

/**
 * A `<time>` showing a relative time, the absolute time with its zone on
 * hover; `prefix` goes before the relative part ("due ", "started ").
 */
export function timeEl(value, prefix = '') {
  const date = parseTime(value);
  if (!date) return el('span', { className: 'muted' }, '—');
  return el('time', { datetime: date.toISOString(), title: absolute(date) }, prefix + relative(date));
}

// ---- small pieces ----------------------------------------------------------

/** Every task state, in lifecycle order: a workflow step WAITING for its parents comes first. */
export const STATES = ['WAITING', 'PENDING', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELLED', 'EXPIRED'];

export function stateBadge(value, scheduled) {
  const name = STATES.includes(value) ? value : 'UNKNOWN';
  const label = scheduled && name === 'PENDING' ? 'SCHEDULED' : String(value);
  return el('span', { className: 'badge state-' + (label === 'SCHEDULED' ? 'SCHEDULED' : name) }, label);
}

/** The last eight characters of an id: the random part of a UUID v7. */
export function shortId(id) { return '…' + String(id).slice(-8); }

export function number(n) { return Number(n || 0).toLocaleString('en'); }

/** A progress bar for a task that reported progress, runs or finished; a dash otherwise. */
export function progressBar(task) {
  if (!task.progress && task.state !== 'RUNNING' && task.state !== 'FINISHED') {
    return el('span', { className: 'muted', title: 'no progress reported' }, '—');
  }
  const ended = task.state === 'FINISHED';
  const fraction = task.progress ? Number(task.progress.fraction) || 0 : (ended ? 1 : 0);
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  const fill = el('div', { className: 'fill' });
  fill.style.width = pct + '%';
  const message = task.progress ? String(task.progress.message || '') : '';
  return el('div', {
    className: 'bar' + (ended ? ' done' : ''), role: 'progressbar', title: message || undefined,
    'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct),
    'aria-label': 'progress' + (message ? ': ' + message : ''),
  }, fill, el('span', { className: 'label' }, pct + '%' + (message ? ' ' + message : '')));
}

/** A button that the page's click delegation runs as `action`. */
export function actionButton(label, action, data = {}, props = {}) {
  return el('button', { type: 'button', className: action, ...props, dataset: { action, ...data } }, label);
}

export function summary(value, max = 60) {
  const text = JSON.stringify(value);
  return text && text.length > max ? text.slice(0, max - 1) + '…' : String(text);
}

export function json(value) { return el('pre', {}, JSON.stringify(value, null, 2)); }

/** A paragraph for a list with nothing in it, saying why. */
export function empty(text, ...more) { return el('p', { className: 'empty' }, text, ...more); }
