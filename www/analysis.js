// The Canary analysis panel: fleet-wide stable-vs-canary numbers (GET /__edge/api/analysis) over
// the last 5, 15 or 60 minutes — a table and per-minute charts of error rate, fallback rate,
// origin p95 and requests — and the rollout schedule (GET /__edge/api/rollout): its state, the
// current step and the time left in its hold, pause / resume / abort, a start form with the
// marketplace's defaults filled in, and the timeline of every decision with its reason.

import { api, ApiError } from './api.js';
import { $, h, fill, show, pct, dateTime, describeError, confirmChange } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const POLL_MS = 5000;
let windowSecs = 300;
let rollout = null;
let timer = null;
let onRolloutChange = () => {};

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const percent = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(2)} %`);
const millis = (x) => (x === null || x === undefined ? '–' : `${Math.round(x)} ms`);

function renderTable(a) {
  fill($('compare-body'), ['stable', 'canary'].map((v) => {
    const s = a[v];
    return h('tr', { 'data-variant': v },
      h('th', { scope: 'row' }, h('span', { className: `tag tag-${v}` }, v)),
      h('td', { className: 'num', 'data-field': 'requests' }, String(s.requests)),
      h('td', { className: 'num', 'data-field': 'error_rate' }, percent(s.error_rate)),
      h('td', { className: 'num', 'data-field': 'fallback_rate' }, percent(s.fallback_rate)),
      h('td', { className: 'num' }, millis(s.origin_p50_ms)),
      h('td', { className: 'num', 'data-field': 'origin_p95_ms' }, millis(s.origin_p95_ms)),
      h('td', { className: 'num' }, millis(s.origin_p99_ms)),
      h('td', { className: 'num' }, millis(s.total_p95_ms)),
      h('td', { className: 'num' }, percent(s.hit_rate)));
  }));
}

/** One line chart of a per-minute measure for both variants. */
function chart(title, series, pick, format) {
  const width = 320;
  const height = 120;
  const pad = { l: 44, r: 6, t: 6, b: 18 };
  const values = series.flatMap((m) => ['stable', 'canary'].map((v) => pick(m[v]))).filter((x) => x !== null && x !== undefined);
  const max = Math.max(...values, 0) || 1;
  const x = (i) => pad.l + (series.length <= 1 ? 0 : (i * (width - pad.l - pad.r)) / (series.length - 1));
  const y = (val) => height - pad.b - (val / max) * (height - pad.t - pad.b);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title}, stable and canary per minute` });
  root.append(svg('line', { class: 'axis', x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }));
  root.append(svg('line', { class: 'axis', x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b }));
  root.append(svg('text', { class: 'tick', x: pad.l - 4, y: pad.t + 8, 'text-anchor': 'end' }, format(max)));
  root.append(svg('text', { class: 'tick', x: pad.l - 4, y: height - pad.b, 'text-anchor': 'end' }, format(0)));
  if (series.length) {
    const first = new Date(series[0].minute_ms);
    const last = new Date(series[series.length - 1].minute_ms);
    const hm = (d) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    root.append(svg('text', { class: 'tick', x: pad.l, y: height - 4 }, hm(first)));
    root.append(svg('text', { class: 'tick', x: width - pad.r, y: height - 4, 'text-anchor': 'end' }, hm(last)));
  }
  for (const v of ['stable', 'canary']) {
    const points = series
      .map((m, i) => [i, pick(m[v])])
      .filter(([, val]) => val !== null && val !== undefined)
      .map(([i, val]) => [x(i), y(val)]);
    if (points.length === 0) continue;
    root.append(svg('polyline', {
      class: `line-${v}`, points: points.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' '), 'data-variant': v,
    }));
    // A dot per minute with traffic, so that a single minute shows too.
    for (const [px, py] of points) root.append(svg('circle', { class: `dot-${v}`, cx: px.toFixed(1), cy: py.toFixed(1), r: 2.5 }));
  }
  return h('div', { className: 'chart', 'data-chart': title },
    h('h4', {}, title),
    root,
    h('div', { className: 'legend' }, h('span', { className: 'swatch-stable' }, '— stable'), ' ', h('span', { className: 'swatch-canary' }, '— canary')));
}

function renderCharts(a) {
  const series = a.series || [];
  const rate = (x) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)} %`;
  fill($('analysis-charts'), [
    chart('Error rate', series, (s) => (s.requests ? s.error_rate : null), rate),
    chart('Fallback rate', series, (s) => (s.requests ? s.fallback_rate : null), rate),
    chart('Origin p95', series, (s) => s.origin_p95_ms, (x) => `${Math.round(x)} ms`),
    chart('Requests per minute', series, (s) => s.requests, (x) => String(Math.round(x))),
  ]);
}

/** Reads and draws the analysis for the chosen window. */
export async function refreshAnalysis() {
  try {
    const a = await api('GET', `analysis?window=${windowSecs}`);
    renderTable(a);
    renderCharts(a);
    const agg = a.aggregators || {};
    show($('analysis-problem'), agg.complete === false
      ? `Some aggregators could not be read, so these numbers are partial: ${(agg.unreadable || []).join('; ')}`
      : '');
    const iso = a.this_isolate || {};
    $('analysis-note').textContent = `Window ${windowSecs / 60} min · canary weight in force here ${pct((a.weight_bp || 0) / 100)}`
      + ` · ${agg.shards} aggregators · this isolate flushed ${iso.flushes} times`
      + (iso.failed_flushes ? `, ${iso.failed_flushes} flushes failed` : '')
      + (iso.lost_requests ? `, ${iso.lost_requests} requests' counts lost` : '')
      + ' · error rate counts the canary\'s failures a fallback hid from users.';
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) show($('analysis-problem'), describeError(e));
  }
}

function stepsText(r) {
  const steps = r.spec?.steps || [];
  return steps.map((s, i) => `${i + 1 === r.step ? '▶ ' : ''}${s.weight_percent} %`).join(' → ');
}

function renderRollout(r) {
  rollout = r;
  const stateEl = $('rollout-state');
  stateEl.textContent = r.state.replace('_', ' ');
  stateEl.className = `pill pill-${r.state}`;
  stateEl.dataset.state = r.state;
  let summary;
  if (r.state === 'idle') summary = 'No rollout yet. Start one below: the schedule steps the weight up and the analysis judges each step.';
  else {
    summary = `${stepsText(r)} · started ${dateTime(r.started_ms)} by ${r.started_by} (“${r.reason}”)`;
    if (r.state === 'progressing') {
      summary += ` · step ${r.step} of ${r.steps} at ${pct(r.weight_percent)}, ${r.hold_left_secs} s left in its hold`;
    }
    if (r.paused_reason) summary += ` · paused: ${r.paused_reason}`;
    const n = r.notifications || {};
    if (n.failed) summary += ` · ${n.failed} webhook notifications failed (${n.last_error})`;
  }
  $('rollout-summary').textContent = summary;
  $('btn-rollout-pause').disabled = r.state !== 'progressing';
  $('btn-rollout-resume').disabled = r.state !== 'paused';
  $('btn-rollout-abort').disabled = !['progressing', 'paused'].includes(r.state);
  $('btn-rollout-start').disabled = ['progressing', 'paused'].includes(r.state);
  const analyses = r.analyses || [];
  fill($('rollout-timeline'), (r.decisions || []).map((d) => {
    const near = analyses.find((a) => Math.abs(a.at_ms - d.at_ms) < 1000);
    return h('li', { 'data-action': d.action },
      h('span', { className: 'when' }, `${dateTime(d.at_ms)} · ${d.actor}`), ' ',
      h('strong', {}, d.action), d.weight_bp !== undefined ? ` → ${pct(d.weight_bp / 100)}` : '', h('br'),
      d.reason,
      near ? h('div', { className: 'muted small' },
        `canary ${near.canary.requests} req, ${percent(near.canary.error_rate)} errors, p95 ${millis(near.canary.origin_p95_ms)}`
        + ` · stable ${near.stable.requests} req, ${percent(near.stable.error_rate)} errors, p95 ${millis(near.stable.origin_p95_ms)}`) : null);
  }));
  if ((r.decisions || []).length === 0) fill($('rollout-timeline'), h('li', { className: 'muted' }, 'No decisions yet.'));
}

/** Reads the rollout state. */
export async function refreshRollout() {
  try {
    const r = await api('GET', 'rollout');
    const changed = rollout && (rollout.state !== r.state || rollout.step !== r.step || rollout.decisions?.length !== r.decisions?.length);
    renderRollout(r);
    if (changed) onRolloutChange();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) show($('analysis-problem'), describeError(e));
  }
}

function readSpec() {
  const steps = $('rollout-steps').value.split('\n').map((l) => l.trim()).filter(Boolean).map((line, i) => {
    const [w, hold] = line.split(/[\s,;]+/);
    if (w === undefined || Number.isNaN(Number(w))) throw new Error(`step ${i + 1}: “${line}” is not “weight % hold seconds”`);
    return hold === undefined ? { weight_percent: Number(w) } : { weight_percent: Number(w), hold_secs: Number(hold) };
  });
  const num = (id) => Number($(id).value);
  return {
    steps,
    auto_promote: $('rollout-auto-promote').checked,
    analysis: {
      interval_secs: num('rollout-interval'),
      window_secs: num('rollout-window'),
      min_requests: num('rollout-min'),
      max_error_rate: num('rollout-max-error') / 100,
      max_error_rate_over_stable: num('rollout-max-error-over') / 100,
      max_p95_ms: num('rollout-max-p95'),
      max_p95_over_stable: num('rollout-max-p95-over'),
    },
  };
}

function onStart(ev) {
  ev.preventDefault();
  show($('rollout-form-error'));
  let spec;
  try {
    spec = readSpec();
  } catch (e) {
    show($('rollout-form-error'), e.message);
    return;
  }
  confirmChange({
    title: 'Start a rollout',
    summary: `Steps ${spec.steps.map((s) => `${s.weight_percent} %`).join(' → ')}, an analysis every ${spec.analysis.interval_secs} s;`
      + ` any broken threshold rolls back at once${spec.auto_promote ? '; promoted after the last step' : ''}.`,
    confirmLabel: 'Start rollout',
    action: async (w) => {
      try {
        const r = await api('PUT', 'rollout', { ...spec, reason: w.reason });
        renderRollout(r);
        onRolloutChange();
        $('rollout-start').open = false;
        return r;
      } catch (e) {
        if (e instanceof ApiError && e.status === 400) show($('rollout-form-error'), e.describe());
        throw e;
      }
    },
  });
}

function control(action, title, danger) {
  confirmChange({
    title,
    summary: action === 'abort' ? 'Stop the schedule and send no traffic to the canary (weight 0 %).'
      : action === 'pause' ? 'Stop the schedule where it is; the weight stays.' : 'Go on; the hold of the current step starts again.',
    confirmLabel: title,
    danger,
    action: async (w) => {
      const r = await api('POST', `rollout/${action}`, { reason: w.reason });
      renderRollout(r);
      onRolloutChange();
      return r;
    },
  });
}

/** Starts polling the rollout (every 5 s) and the analysis (every 15 s) while the tab is visible. */
export function startPolling() {
  stopPolling();
  let n = 0;
  timer = setInterval(() => {
    if (document.visibilityState !== 'visible') return;
    refreshRollout();
    if (n++ % 3 === 0) refreshAnalysis();
  }, POLL_MS);
}

/** Stops polling. */
export function stopPolling() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}

/** Wires the panel once. `changed` runs when the rollout moved (the canary panel re-reads). */
export function init(changed) {
  onRolloutChange = changed;
  document.querySelectorAll('#analysis [data-window]').forEach((b) => b.addEventListener('click', () => {
    windowSecs = Number(b.dataset.window);
    document.querySelectorAll('#analysis [data-window]').forEach((x) => x.setAttribute('aria-pressed', String(x === b)));
    refreshAnalysis();
  }));
  $('analysis-refresh').addEventListener('click', () => { refreshAnalysis(); refreshRollout(); });
  $('rollout-form').addEventListener('submit', onStart);
  $('btn-rollout-pause').addEventListener('click', () => control('pause', 'Pause the rollout', false));
  $('btn-rollout-resume').addEventListener('click', () => control('resume', 'Resume the rollout', false));
  $('btn-rollout-abort').addEventListener('click', () => control('abort', 'Abort the rollout', true));
}
