// The Live probe: N requests per variant to the chosen catalog paths, stable and canary
// interleaved (forced with X-Edge-Variant). Each request's Server-Timing is read from the
// browser's resource timing (PerformanceServerTiming), then drawn as a stacked bar
// (edge, cache, origin from Server-Timing; network = the browser's round trip minus the edge's
// total) per request and variant, with p50 and p95 of the edge's total. A hit from the edge's
// memory tier takes under a millisecond in the worker, so its bar is mostly network.

import { token } from './api.js';
import { $, h, fill, pathText, ms, describeError } from './ui.js';
import { config } from './canary.js';

const VARIANTS = ['stable', 'canary'];
const TIMED = ['edge', 'cache', 'origin'];
const SEGMENTS = [...TIMED, 'network'];
const DEFAULT_PATHS = [
  '/api/v1/marketplace/categories',
  '/api/v1/marketplace/category-tree',
  '/api/v2/marketplace/categories/10101/attributes',
];
const MAX_REQUESTS = 200;
const SVG = 'http://www.w3.org/2000/svg';

let running = false;
/** The samples of the last run: {variant, index, path, edge, cache, origin, total, rtt, outcome, servedBy, error}. */
let samples = [];
let planned = 0;

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Nearest-rank percentile of a list of numbers (null for none). */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Offers the configured warmup paths (the catalog's hot set) as probe targets. */
export function renderPaths() {
  const box = $('probe-paths');
  const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
  const fromConfig = config()?.cache?.warmup_paths ?? [];
  const paths = [...new Set([...DEFAULT_PATHS, ...fromConfig])];
  const keep = checked.size ? checked : new Set(DEFAULT_PATHS);
  fill(box, paths.map((p, i) => {
    const id = `probe-path-${i}`;
    return h('div', { className: 'check' },
      h('input', { type: 'checkbox', id, value: p, checked: keep.has(p) }),
      h('label', { htmlFor: id }, pathText(p)));
  }));
}

const sleep = (msecs) => new Promise((r) => setTimeout(r, msecs));

/** The newest resource-timing entry for `url` that started at or after `since`. */
async function newestEntry(url, since) {
  for (let i = 0; i < 100; i++) {
    const list = performance.getEntriesByName(url, 'resource').filter((e) => e.startTime >= since - 1);
    if (list.length) return list[list.length - 1];
    // The entry is queued when the body is done; give the browser a moment.
    await sleep(10);
  }
  return null;
}

async function probeOnce(path, variant, index, withToken) {
  const url = new URL(path, location.origin).href;
  const headers = { 'X-Edge-Variant': variant };
  if (withToken) headers.Authorization = `Bearer ${token()}`;
  const since = performance.now();
  const sample = { variant, index, path, edge: 0, cache: 0, origin: 0, network: 0, total: null, rtt: null, outcome: null, servedBy: null, error: null };
  try {
    const res = await fetch(url, { headers, cache: 'no-store' });
    await res.arrayBuffer();
    sample.servedBy = res.headers.get('x-edge-variant');
    if (!res.ok) sample.error = `HTTP ${res.status}`;
  } catch (e) {
    sample.error = describeError(e);
    return sample;
  }
  const entry = await newestEntry(url, since);
  if (!entry) {
    sample.error = 'no resource timing entry';
    return sample;
  }
  sample.rtt = entry.duration;
  for (const st of entry.serverTiming || []) {
    if (TIMED.includes(st.name)) sample[st.name] += st.duration;
    if (st.name === 'total') sample.total = st.duration;
    if (st.name === 'cache' && st.description) sample.outcome = st.description;
  }
  if (sample.total === null) sample.total = sample.edge + sample.cache + sample.origin;
  sample.network = Math.max(0, sample.rtt - sample.total);
  return sample;
}

function stack(s) {
  return s.edge + s.cache + s.origin + s.network;
}

/** p50/p95 and friends for one variant's samples. */
function summarize(variant) {
  const good = samples.filter((s) => s.variant === variant && !s.error);
  const totals = good.map((s) => s.total);
  const outcomes = {};
  for (const s of good) if (s.outcome) outcomes[s.outcome] = (outcomes[s.outcome] || 0) + 1;
  return {
    count: good.length,
    errors: samples.filter((s) => s.variant === variant && s.error).length,
    p50: percentile(totals, 50),
    p95: percentile(totals, 95),
    rttP50: percentile(good.map((s) => s.rtt), 50),
    outcomes,
    mismatched: good.filter((s) => s.servedBy && s.servedBy !== variant).length,
  };
}

function renderStats() {
  fill($('probe-stats'), VARIANTS.map((v) => {
    const s = summarize(v);
    const outcomes = Object.entries(s.outcomes).map(([k, n]) => `${n} ${k}`).join(', ') || '–';
    return h('div', { className: `probe-stat probe-stat-${v}`, 'data-variant': v },
      h('h3', {}, h('span', { className: `tag tag-${v}` }, v)),
      h('dl', {},
        h('dt', {}, 'p50 total'), h('dd', { className: 'p50', 'data-value': s.p50 ?? '' }, ms(s.p50)),
        h('dt', {}, 'p95 total'), h('dd', { className: 'p95', 'data-value': s.p95 ?? '' }, ms(s.p95)),
        h('dt', {}, 'p50 round trip'), h('dd', {}, ms(s.rttP50)),
        h('dt', {}, 'cache'), h('dd', {}, outcomes),
        h('dt', {}, 'requests'), h('dd', {}, `${s.count} ok${s.errors ? `, ${s.errors} failed` : ''}`
          + (s.mismatched ? `, ${s.mismatched} served by the other variant` : ''))));
  }));
}

function niceMax(v) {
  if (v <= 0) return 1;
  const pow = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= v) return m * pow;
  return 10 * pow;
}

/** Draws both variants' rows: one stacked bar per request, p50/p95 lines, a shared ms scale. */
function renderChart() {
  const W = 1000;
  const ROW = 160; // plot height per variant
  const HEAD = 26; // the row's title line
  const GAP = 18;
  const LEFT = 56;
  const RIGHT = 92;
  const FOOT = 22;
  const H = VARIANTS.length * (HEAD + ROW + GAP) + FOOT;
  const n = Math.max(planned, 1);
  const max = niceMax(Math.max(1, ...samples.map((s) => Math.max(stack(s), s.total || 0))));
  const slot = (W - LEFT - RIGHT) / n;
  const barW = Math.max(1, slot * 0.72);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img' });
  const label = VARIANTS.map((v) => {
    const s = summarize(v);
    return `${v}: ${s.count} requests, p50 ${ms(s.p50)}, p95 ${ms(s.p95)}`;
  }).join('; ');
  root.setAttribute('aria-label', `Server-Timing per request, stacked edge, cache and origin time. ${label}`);

  VARIANTS.forEach((variant, row) => {
    const top = row * (HEAD + ROW + GAP);
    const y0 = top + HEAD;
    const base = y0 + ROW;
    const scale = (v) => (v / max) * ROW;
    const sum = summarize(variant);
    const g = svg('g', { class: `series series-${variant}`, 'data-variant': variant });
    const title = svg('text', { x: 0, y: top + 16, class: `row-label row-label-${variant}` }, variant);
    title.append(svg('tspan', { class: 'row-sub', dx: 10 },
      `${sum.count} requests · p50 ${ms(sum.p50)} · p95 ${ms(sum.p95)}`));
    g.append(title);
    for (const t of [0, max / 2, max]) {
      const y = base - scale(t);
      g.append(svg('line', { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: t === 0 ? 'axis' : 'grid' }));
      g.append(svg('text', { x: LEFT - 6, y: y + 4, class: 'tick', 'text-anchor': 'end' }, ms(t)));
    }
    for (const s of samples.filter((x) => x.variant === variant)) {
      const x = LEFT + s.index * slot + (slot - barW) / 2;
      const bar = svg('g', { class: 'bar', 'data-index': s.index });
      const tip = s.error
        ? `#${s.index + 1} ${s.path}: ${s.error}`
        : `#${s.index + 1} ${s.path} (${s.outcome || 'no cache'}): edge ${ms(s.edge)}, cache ${ms(s.cache)}, origin ${ms(s.origin)}, total ${ms(s.total)}, network ${ms(s.network)}`;
      bar.append(svg('title', {}, tip));
      let y = base;
      for (const seg of SEGMENTS) {
        const hgt = scale(s[seg]);
        y -= hgt;
        bar.append(svg('rect', {
          x: x.toFixed(2), y: y.toFixed(2), width: barW.toFixed(2), height: hgt.toFixed(2),
          class: `seg seg-${seg}`, 'data-segment': seg, 'data-variant': variant,
        }));
      }
      if (s.error) bar.append(svg('text', { x: x + barW / 2, y: base - 4, class: 'bar-error', 'text-anchor': 'middle' }, '×'));
      g.append(bar);
    }
    for (const [name, value] of [['p50', sum.p50], ['p95', sum.p95]]) {
      if (value === null) continue;
      const y = base - scale(value);
      g.append(svg('line', { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, class: `pline pline-${name}` }));
      g.append(svg('text', { x: W - RIGHT + 6, y: y + (name === 'p95' ? -3 : 12), class: `plabel plabel-${name}` }, `${name} ${ms(value)}`));
    }
    root.append(g);
  });
  root.append(svg('text', { x: LEFT, y: H - 6, class: 'tick' },
    `requests 1–${n}, stable and canary interleaved (${samples.length} of ${n * VARIANTS.length} done)`));
  fill($('probe-chart'), root);
}

async function onRun(ev) {
  ev.preventDefault();
  if (running) return;
  const status = $('probe-status');
  status.classList.remove('error');
  const countInput = $('probe-count');
  const n = Number(countInput.value);
  countInput.removeAttribute('aria-invalid');
  if (!Number.isInteger(n) || n < 1 || n > MAX_REQUESTS) {
    countInput.setAttribute('aria-invalid', 'true');
    status.textContent = `Requests per variant must be a whole number from 1 to ${MAX_REQUESTS}.`;
    status.classList.add('error');
    countInput.focus();
    return;
  }
  const paths = [...$('probe-paths').querySelectorAll('input:checked')].map((i) => i.value);
  if (paths.length === 0) {
    status.textContent = 'Choose at least one catalog path.';
    status.classList.add('error');
    $('probe-paths').querySelector('input')?.focus();
    return;
  }
  // With overrides_require_token the variant header only counts next to the admin token — and a
  // request with Authorization bypasses the cache, so say so.
  const withToken = Boolean(config()?.config?.canary?.overrides_require_token);
  running = true;
  const btn = $('btn-probe');
  btn.disabled = true;
  samples = [];
  planned = n;
  $('probe-chart').removeAttribute('data-done');
  performance.clearResourceTimings();
  const started = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const path = paths[i % paths.length];
      for (const variant of VARIANTS) {
        samples.push(await probeOnce(path, variant, i, withToken));
      }
      status.textContent = `Request ${i + 1} of ${n} per variant…`;
      renderChart();
      renderStats();
    }
    const failed = samples.filter((s) => s.error).length;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    status.textContent = `Done: ${samples.length} requests in ${secs} s${failed ? `, ${failed} failed` : ''}.`
      + (withToken ? ' Overrides need the admin token here, so these requests bypassed the cache.' : '');
    status.classList.toggle('error', failed > 0);
  } finally {
    running = false;
    btn.disabled = false;
    $('probe-chart').setAttribute('data-done', 'true');
    onDone();
  }
}

let onDone = () => {};

/** Wires the panel's controls once; `done` runs after each probe (the stats have moved). */
export function init(done) {
  onDone = done;
  // Room for a long run; entries are also cleared before each run.
  performance.setResourceTimingBufferSize(1000);
  performance.addEventListener('resourcetimingbufferfull', () => performance.clearResourceTimings());
  $('probe-form').addEventListener('submit', onRun);
  renderPaths();
  fill($('probe-chart'), h('p', { className: 'muted chart-empty' }, 'Run the probe to draw per-request timings for both variants.'));
}
