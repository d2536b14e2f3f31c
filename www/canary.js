// The Canary panel: the weight in force, the rollout plan, the release manager's four actions
// (each confirmed with actor and reason) and the audit log.

import { api, ApiError } from './api.js';
import { $, h, fill, show, pct, bpPct, dateTime, describeError, confirmChange } from './ui.js';

/** The last `GET config` answer. */
let current = null;
/** Called after every change, so the other panels can follow (active variants, health). */
let afterChange = () => {};

const ACTION_NAMES = {
  set_weight: 'set weight',
  advance: 'advance',
  rollback: 'rollback',
  promote: 'promote',
  put_config: 'config replaced',
  revert: 'revert',
};

/** The configuration document last read (for other panels: warmup paths, languages). */
export function config() {
  return current;
}

function summary() {
  return current?.in_force?.summary ?? null;
}

function nextStep(s) {
  return (s.plan_percent || []).find((p) => p > s.weight_percent) ?? null;
}

function render() {
  const s = summary();
  if (!s) return;
  const w = s.weight_percent;
  $('weight-value').textContent = pct(w);
  $('weight-fill').style.width = `${Math.max(0, Math.min(100, w))}%`;
  const bar = $('weight-bar');
  bar.setAttribute('aria-valuenow', String(w));
  bar.setAttribute('aria-valuetext', `${pct(w)} of traffic to the canary`);
  $('weight-split').textContent = s.canary_origin
    ? `canary ${pct(w)} · stable ${pct(Math.round((100 - w) * 100) / 100)} of clients on the rollout routes`
    : 'no canary origin configured: all traffic goes to stable';
  const inForce = current.in_force;
  $('canary-source').textContent = `version ${inForce.version} · from ${inForce.source === 'kv' ? 'KV' : 'wrangler vars (defaults)'}`
    + (current.updated_at_ms ? ` · last change ${dateTime(current.updated_at_ms)} by ${current.actor}` : '');
  show($('canary-problem'), inForce.problem ? `Stored rollout configuration rejected: ${inForce.problem}` : '');

  // The plan: 0 % first, then each step; the step in force is highlighted, passed steps marked.
  const steps = [0, ...(s.plan_percent || [])];
  const onPlan = steps.includes(w);
  const items = steps.map((p) => {
    const state = p === w ? 'current' : p < w ? 'done' : 'todo';
    return h('li', { className: `step step-${state}`, 'aria-current': state === 'current' ? 'step' : null },
      h('span', { className: 'step-value' }, pct(p)),
      state === 'current' ? h('span', { className: 'sr-only' }, ' (in force)') : null);
  });
  if (!onPlan) {
    const at = items.findIndex((_, i) => steps[i] > w);
    const off = h('li', { className: 'step step-current step-off', 'aria-current': 'step' },
      h('span', { className: 'step-value' }, pct(w)), h('span', { className: 'step-note' }, 'off plan'));
    items.splice(at === -1 ? items.length : at, 0, off);
  }
  fill($('plan-steps'), items);

  $('stable-origin').textContent = s.stable_origin || '–';
  $('canary-origin').textContent = s.canary_origin || 'none configured';

  const next = nextStep(s);
  const advance = $('btn-advance');
  advance.textContent = next === null ? 'Advance (at the last step)' : `Advance to ${pct(next)}…`;
  advance.disabled = next === null || !s.canary_origin;
  $('btn-rollback').disabled = w === 0;
  $('btn-promote').disabled = !s.canary_origin;
}

function weightOf(doc) {
  const bp = doc?.canary?.weight_bp;
  return typeof bp === 'number' ? bp : null;
}

function renderAudit(audit) {
  const entries = audit.entries || [];
  const count = audit.count ?? entries.length;
  $('audit-count').textContent = `${count} ${count === 1 ? 'entry' : 'entries'}, newest first${entries.length > 50 ? ' (50 shown)' : ''}`;
  if (entries.length === 0) {
    fill($('audit-body'), h('tr', {}, h('td', { colSpan: 6, className: 'muted' }, 'No changes yet.')));
    return;
  }
  fill($('audit-body'), entries.slice(0, 50).map((e) => {
    const oldW = weightOf(e.old);
    const newW = weightOf(e.new);
    let change = `${bpPct(oldW)} → ${bpPct(newW)}`;
    if (e.action === 'promote') change += ' (origins swapped)';
    return h('tr', { 'data-action': e.action },
      h('td', { className: 'nowrap' }, dateTime(e.at_ms)),
      h('td', {}, e.actor),
      h('td', {}, h('span', { className: `tag tag-${e.action}` }, ACTION_NAMES[e.action] || e.action)),
      h('td', { className: 'nowrap' }, change),
      h('td', { className: 'reason' }, e.reason),
      h('td', { className: 'num' }, String(e.version)));
  }));
}

function status(text, isError = false) {
  const el = $('canary-status');
  el.textContent = text;
  el.classList.toggle('error', isError);
}

/** Reads the configuration and the audit log. */
export async function refresh() {
  try {
    const [cfg, audit] = await Promise.all([api('GET', 'config'), api('GET', 'audit')]);
    current = cfg;
    render();
    renderAudit(audit);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) status(describeError(e), true);
    throw e;
  }
}

async function change(path, body, done) {
  const res = await api('POST', path, body);
  status(done(res));
  await refresh().catch(() => {});
  afterChange();
  return res;
}

function onAdvance() {
  const s = summary();
  const next = nextStep(s);
  confirmChange({
    title: 'Advance the canary',
    summary: `Move the canary from ${pct(s.weight_percent)} to the next plan step, ${pct(next)}.`,
    confirmLabel: `Advance to ${pct(next)}`,
    action: (w) => change('canary/advance', w, (r) => `Advanced to ${pct(r.summary.weight_percent)} (version ${r.version}).`),
  });
}

function onSetWeight(ev) {
  ev.preventDefault();
  const input = $('weight-input');
  input.removeAttribute('aria-invalid');
  const raw = input.value.trim();
  if (raw === '') {
    input.setAttribute('aria-invalid', 'true');
    status('Enter the new weight in percent (0–100, up to two decimals).', true);
    input.focus();
    return;
  }
  // Sent as typed: the API validates the range and precision and names the field when it refuses.
  const weight = Number(raw);
  const s = summary();
  confirmChange({
    title: 'Set the canary weight',
    summary: `Change the canary weight from ${pct(s.weight_percent)} to ${Number.isFinite(weight) ? pct(weight) : raw}.`,
    confirmLabel: 'Set weight',
    action: async (w) => {
      try {
        return await change('canary', { weight: Number.isFinite(weight) ? weight : raw, ...w },
          (r) => `Weight set to ${pct(r.summary.weight_percent)} (version ${r.version}).`);
      } catch (e) {
        if (e instanceof ApiError && e.field === 'weight') input.setAttribute('aria-invalid', 'true');
        throw e;
      }
    },
  });
}

function onRollback() {
  const s = summary();
  confirmChange({
    title: 'Roll back the canary',
    summary: `Send no traffic to the canary: ${pct(s.weight_percent)} → 0 %, at once.`,
    confirmLabel: 'Roll back to 0 %',
    danger: true,
    action: (w) => change('canary/rollback', w, (r) => `Rolled back to ${pct(r.summary.weight_percent)} (version ${r.version}).`),
  });
}

function onPromote() {
  const s = summary();
  confirmChange({
    title: 'Promote the canary',
    summary: `The canary origin (${s.canary_origin}) becomes the stable origin for all traffic, the old stable`
      + ` origin becomes the canary, and the weight returns to 0 %.`
      + (s.weight_percent < 100 ? ` Careful: the canary is at ${pct(s.weight_percent)}, not 100 %.` : ''),
    confirmLabel: 'Promote',
    danger: true,
    action: (w) => change('canary/promote', w, (r) => `Promoted: stable is now ${r.summary.stable_origin} (version ${r.version}).`),
  });
}

/** Wires the panel's controls once. */
export function init(onChange) {
  afterChange = onChange;
  $('btn-advance').addEventListener('click', onAdvance);
  $('weight-form').addEventListener('submit', onSetWeight);
  $('btn-rollback').addEventListener('click', onRollback);
  $('btn-promote').addEventListener('click', onPromote);
  $('canary-refresh').addEventListener('click', () => refresh().then(() => status('')).catch(() => {}));
}
