// The overview's throughput chart: attempts ended per minute over the last
// hour, by outcome, from GET api/stats/throughput. Drawn by uPlot (vendored,
// MIT; the page loads it as the global `uPlot`); its host keeps what uPlot
// drew across refreshes (`data-chart`: the DOM morph leaves its children).

import { $, el, number } from './dom.js';

/** Minutes the chart shows. */
export const MINUTES = 60;

const SERIES = [
  ['finished', '#1a7f37'],
  ['failed', '#cf222e'],
  ['retried', '#9a6700'],
  ['cancelled', '#57606a'],
];

let plot = null;

/** One value per minute of the window (oldest first), summed over queues. */
export function perMinute(throughput, now = Date.now()) {
  const last = Math.floor(now / 60000) * 60;
  const xs = Array.from({ length: MINUTES }, (_, i) => last - (MINUTES - 1 - i) * 60);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = SERIES.map(() => new Array(MINUTES).fill(0));
  for (const c of (throughput && throughput.counts) || []) {
    const i = index.get(Math.floor(Date.parse(c.minute) / 1000));
    if (i === undefined) continue;
    SERIES.forEach(([name], s) => { ys[s][i] += c[name] || 0; });
  }
  return [xs, ...ys];
}

/** The chart's heading, its caption (totals in words) and its host. */
export function throughputSection(throughput) {
  const data = perMinute(throughput);
  const totals = SERIES.map(([name], s) => number(data[s + 1].reduce((a, b) => a + b, 0)) + ' ' + name);
  return [
    el('h3', { id: 'throughput-heading' }, 'Throughput, last hour'),
    el('p', { id: 'throughput-caption', className: 'muted' },
      throughput ? 'Attempts ended per minute: ' + totals.join(', ') + '.' : 'Loading…'),
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
  const data = perMinute(throughput);
  const width = Math.max(280, host.clientWidth || 600);
  if (plot && plot.root.parentNode === host) {
    if (Math.abs(plot.width - width) > 1) plot.setSize({ width, height: 180 });
    plot.setData(data);
    return;
  }
  if (plot) plot.destroy();
  plot = new uPlot({
    width,
    height: 180,
    legend: { show: true },
    scales: { x: { time: true } },
    axes: [{}, { size: 50 }],
    series: [{}, ...SERIES.map(([label, stroke]) => ({ label, stroke, width: 2, points: { show: false } }))],
  }, data, host);
}
