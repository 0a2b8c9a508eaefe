// The overview's throughput chart: attempts ended per minute over the last
// hour, by outcome, or the failure rate per minute, over every queue or one,
// from GET api/stats/throughput. Drawn by uPlot (vendored, MIT; the page
// loads it as the global `uPlot`); its host keeps what uPlot drew across
// refreshes (`data-chart`: the DOM morph leaves its children).

import { $, el, number } from './dom.js';
import { SILENT } from './state.js';

/** Minutes the chart shows. */
export const MINUTES = 60;

const SERIES = [
  ['finished', '#1a7f37'],
  ['failed', '#cf222e'],
  ['retried', '#9a6700'],
  ['cancelled', '#57606a'],
];

/** The failure-rate view's one series. */
const RATE = ['failure rate %', '#cf222e'];

let plot = null;
/** The plot's view (`counts` or `rate`): another view draws a new plot. */
let plotted = null;

/** What the chart shows: every queue or one (`''`: all), attempts or the failure rate. */
export const chart = { queue: '', view: 'counts' };

/** One value per minute of the window (oldest first), summed over `queue`'s counts (all when empty). */
export function perMinute(throughput, now = Date.now(), queue = '') {
  const last = Math.floor(now / 60000) * 60;
  const xs = Array.from({ length: MINUTES }, (_, i) => last - (MINUTES - 1 - i) * 60);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = SERIES.map(() => new Array(MINUTES).fill(0));
  for (const c of (throughput && throughput.counts) || []) {
    if (queue && c.queue !== queue) continue;
    const i = index.get(Math.floor(Date.parse(c.minute) / 1000));
    if (i === undefined) continue;
    SERIES.forEach(([name], s) => { ys[s][i] += c[name] || 0; });
  }
  return [xs, ...ys];
}

/**
 * The failure rate per minute, in percent: attempts that failed (for good
 * or to be retried) of the attempts that ran to an outcome (cancelled ones
 * left out); no value for a minute without any.
 */
export function failureRate(counts) {
  const [xs, finished, failed, retried] = counts;
  const rate = xs.map((_, i) => {
    const ran = finished[i] + failed[i] + retried[i];
    return ran ? Math.round(((failed[i] + retried[i]) / ran) * 1000) / 10 : null;
  });
  return [xs, rate];
}

/** The queues the chart can show: those with counts, and the known ones. */
function chartQueues(throughput, known) {
  const names = new Set(known);
  for (const c of (throughput && throughput.counts) || []) names.add(c.queue);
  return [...names].sort();
}

function caption(throughput, data) {
  if (!throughput) return 'Loading…';
  const sum = (s) => data[s + 1].reduce((a, b) => a + b, 0);
  const where = chart.queue ? ' in queue ' + chart.queue : '';
  if (chart.view === 'rate') {
    const ran = sum(0) + sum(1) + sum(2);
    const failed = sum(1) + sum(2);
    return ran
      ? 'Failure rate per minute' + where + ': ' + number(failed) + ' of ' + number(ran) + ' attempts failed ('
        + (Math.round((failed / ran) * 1000) / 10) + '%).'
      : 'Failure rate per minute' + where + ': no attempt ended.';
  }
  const totals = SERIES.map(([name], s) => number(sum(s)) + ' ' + name);
  return 'Attempts ended per minute' + where + ': ' + totals.join(', ') + '.';
}

/** The chart's heading, its controls (queue, view), its caption (totals in words) and its host. */
export function throughputSection(throughput, knownQueues = []) {
  const queues = chartQueues(throughput, knownQueues);
  if (chart.queue && !queues.includes(chart.queue)) chart.queue = '';
  const data = perMinute(throughput, Date.now(), chart.queue);
  const viewButton = (view, text) => el('button', {
    type: 'button', dataset: { action: 'chart-view', view },
    'aria-pressed': String(chart.view === view),
  }, text);
  return [
    el('h3', { id: 'throughput-heading' }, 'Throughput, last hour'),
    el('div', { className: 'chart-controls', role: 'group', 'aria-label': 'what the chart shows' },
      el('label', { for: 'throughput-queue' }, 'Queue '),
      el('select', { id: 'throughput-queue', dataset: { change: 'chart-queue' } },
        el('option', { value: '', selected: chart.queue === '' }, 'all queues'),
        ...queues.map((q) => el('option', { value: q, selected: chart.queue === q, dataset: { key: q } }, q))),
      viewButton('counts', 'Attempts'),
      viewButton('rate', 'Failure rate')),
    el('p', { id: 'throughput-caption', className: 'muted' }, caption(throughput, data)),
    el('figure', {
      id: 'throughput', className: 'chart', dataset: { key: 'throughput', chart: '' },
      role: 'img', 'aria-labelledby': 'throughput-heading throughput-caption',
    }),
  ];
}

/** Draws (or redraws) the chart into its host once the page shows it. */
export function drawThroughput(throughput) {
  const host = $('throughput');
  if (!host || typeof uPlot === 'undefined' || !throughput) return;
  const counts = perMinute(throughput, Date.now(), chart.queue);
  const data = chart.view === 'rate' ? failureRate(counts) : counts;
  const width = Math.max(280, host.clientWidth || 600);
  if (plot && plot.root.parentNode === host && plotted === chart.view) {
    if (Math.abs(plot.width - width) > 1) plot.setSize({ width, height: 180 });
    plot.setData(data);
    return;
  }
  if (plot) plot.destroy();
  plotted = chart.view;
  const series = chart.view === 'rate' ? [RATE] : SERIES;
  plot = new uPlot({
    width,
    height: 180,
    legend: { show: true },
    scales: chart.view === 'rate' ? { x: { time: true }, y: { range: [0, 100] } } : { x: { time: true } },
    axes: [{}, { size: 50 }],
    series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2, points: { show: false } }))],
  }, data, host);
}

/** The chart's controls: they change only the page. */
export const actions = {
  'chart-view': (data) => { chart.view = data.view === 'rate' ? 'rate' : 'counts'; return SILENT; },
  'chart-queue': (_data, select) => { chart.queue = select.value; return SILENT; },
};
