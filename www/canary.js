// The Canary panel: the weight in force, the rollout plan, the release manager's four actions
// (each confirmed with a reason; the actor is the operator the admin token names) and the audit
// log. The panel polls the state every few seconds while the tab is visible, and every change is
// sent with the version it was based on (If-Match): when someone else changed the rollout in the
// meantime the worker answers 409 and the panel shows the new state instead of applying blindly.

import { api, ApiError } from './api.js';
import {
  $, h, fill, show, pct, bpPct, dateTime, describeError, confirmChange, confirming, warnInDialog,
} from './ui.js';

/** The last `GET config` answer. */
let current = null;
/** Called after every change, so the other panels can follow (active variants, health). */
let afterChange = () => {};
/** How often the state is polled while the tab is visible. */
const POLL_MS = 5000;
let pollTimer = null;
/** The version an open dialog's change is based on. */
let dialogVersion = null;

const ACTION_NAMES = {
  set_weight: 'set weight',
  advance: 'advance',
  rollback: 'rollback',
  promote: 'promote',
  put_config: 'config replaced',
  revert: 'revert',
  external_change: 'KV edit adopted',
  recovered: 'recovered',
  quarantined: 'kept aside',
  imported: 'imported',
  purge: 'purge',
  warmup: 'warmup',
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
  const source = { kv: 'KV', control: 'the control plane', vars: 'wrangler vars (defaults)' }[inForce.source] || inForce.source;
  $('canary-source').textContent = `version ${current.version} · in force here: ${inForce.version} from ${source}`
    + (current.updated_at_ms ? ` · last change ${dateTime(current.updated_at_ms)} by ${current.actor}${current.reason ? ` (“${current.reason}”)` : ''}` : '');
  const problems = [];
  if (inForce.problem) problems.push(`Stored rollout configuration rejected: ${inForce.problem}`);
  if (current.control && current.control.available === false) {
    problems.push(`The control plane is unreachable, so no change can be made now: ${current.control.problem}`);
  }
  const publishError = current.control?.published?.error;
  if (publishError) {
    problems.push(`The control plane could not publish to KV (${publishError}); other data centres keep the previous state until its retry succeeds.`);
  }
  if (current.readable === false) problems.push(`The stored rollout record is unreadable: ${current.problem}. Roll back or revert to recover.`);
  show($('canary-problem'), problems.join(' '));
  const kept = current.control?.quarantined || 0;
  if (kept > 0) $('canary-source').textContent += ` · ${kept} unreadable document${kept === 1 ? '' : 's'} kept aside (GET /__edge/api/quarantine)`;

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

  const release = (origin, label) => (label && label !== origin ? `${origin} (release ${label})` : origin);
  $('stable-origin').textContent = s.stable_origin ? release(s.stable_origin, s.stable_release) : '–';
  $('canary-origin').textContent = s.canary_origin ? release(s.canary_origin, s.canary_release) : 'none configured';

  const next = nextStep(s);
  const advance = $('btn-advance');
  advance.textContent = next === null ? 'Advance (at the last step)' : `Advance to ${pct(next)}…`;
  advance.disabled = next === null || !s.canary_origin;
  $('btn-rollback').disabled = w === 0;
  $('btn-promote').disabled = !s.canary_origin;
  $('btn-set-weight').disabled = false;
}

/** The state in force, or null with a message when it has not loaded yet (the buttons stay
 * disabled until it has; this covers a form submitted with Enter before the first answer). */
function loadedSummary() {
  const s = summary();
  if (!s) status('The rollout state has not loaded yet: wait until the panel shows the weight in force, then try again.', true);
  return s;
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
    let change = oldW === null && newW === null ? '–' : `${bpPct(oldW)} → ${bpPct(newW)}`;
    if (e.action === 'promote') change += ' (canary became stable)';
    if (e.action === 'purge' && e.detail) change = `purged ${e.detail.purged}`;
    if (e.action === 'warmup' && e.detail) change = `${e.detail.ok}/${e.detail.jobs} warmed`;
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

/** Re-reads the audit log (after purges and warmups, which do not change the rollout version). */
export function refreshAudit() {
  return api('GET', 'audit').then(renderAudit).catch(() => {});
}

/** One poll: re-reads the state, and the audit log when the version moved. */
async function poll() {
  if (document.visibilityState !== 'visible' || !current) return;
  let cfg;
  try {
    cfg = await api('GET', 'config', undefined, { quiet401: false });
  } catch {
    $('canary-live').textContent = 'live updates paused: the worker did not answer';
    return;
  }
  $('canary-live').textContent = `live · checked ${dateTime(Date.now()).slice(11)}`;
  if (cfg.version === current.version && cfg.in_force?.version === current.in_force?.version) return;
  const was = current.version;
  current = cfg;
  render();
  api('GET', 'audit').then(renderAudit).catch(() => {});
  afterChange();
  if (confirming() && dialogVersion !== null && cfg.version !== dialogVersion) {
    warnInDialog(`The rollout changed while this dialog was open: it is now at version ${cfg.version}`
      + ` (${pct(cfg.summary?.weight_percent ?? 0)}, by ${cfg.actor}). Confirming will be refused; cancel and review.`);
  }
  if (cfg.version !== was) status(`The rollout changed: version ${cfg.version}, set by ${cfg.actor}.`);
}

/** Starts polling every few seconds; paused while the tab is hidden, resumed (at once) when shown. */
export function startPolling() {
  stopPolling();
  pollTimer = setInterval(poll, POLL_MS);
}

/** Stops polling (on sign-out). */
export function stopPolling() {
  if (pollTimer !== null) clearInterval(pollTimer);
  pollTimer = null;
}

/**
 * Sends a change based on `basedOn` (the version the operator saw; null for none). A 409 means
 * someone else changed the rollout first: nothing was applied, the new state is shown, and the
 * dialog closes with that message.
 */
async function change(path, body, done, basedOn) {
  try {
    const res = await api('POST', path, body, { ifMatch: basedOn });
    status(done(res));
    await refresh().catch(() => {});
    afterChange();
    return res;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 409 && e.field === 'if-match')) throw e;
    await refresh().catch(() => {});
    const now = e.current || current;
    status(`Not applied: someone else changed the rollout first. It is now at version ${now.version}`
      + ` (${pct(now.summary?.weight_percent ?? 0)}, by ${now.actor}: “${now.reason}”). Review the new state and try again.`, true);
    afterChange();
    return null;
  }
}

/** Opens the dialog for a change based on the version shown now. */
function confirmBased(opts) {
  dialogVersion = current.version;
  const based = dialogVersion;
  return confirmChange({ ...opts, action: (w) => opts.action(w, based) }).finally(() => {
    dialogVersion = null;
  });
}

function onAdvance() {
  const s = loadedSummary();
  if (!s) return;
  const next = nextStep(s);
  confirmBased({
    title: 'Advance the canary',
    summary: `Move the canary from ${pct(s.weight_percent)} to the next plan step, ${pct(next)}.`,
    confirmLabel: `Advance to ${pct(next)}`,
    action: (w, based) => change('canary/advance', w, (r) => `Advanced to ${pct(r.summary.weight_percent)} (version ${r.version}).`, based),
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
  const s = loadedSummary();
  if (!s) return;
  confirmBased({
    title: 'Set the canary weight',
    summary: `Change the canary weight from ${pct(s.weight_percent)} to ${Number.isFinite(weight) ? pct(weight) : raw}.`,
    confirmLabel: 'Set weight',
    action: async (w, based) => {
      try {
        return await change('canary', { weight: Number.isFinite(weight) ? weight : raw, ...w },
          (r) => `Weight set to ${pct(r.summary.weight_percent)} (version ${r.version}).`, based);
      } catch (e) {
        if (e instanceof ApiError && e.field === 'weight') input.setAttribute('aria-invalid', 'true');
        throw e;
      }
    },
  });
}

function onRollback() {
  const s = summary();
  // Rollback is the one change whose result does not depend on what the operator saw (weight 0,
  // whatever the state): it is sent without If-Match, so an emergency never needs a second try.
  confirmChange({
    title: 'Roll back the canary',
    summary: `Send no traffic to the canary: ${s ? pct(s.weight_percent) : 'whatever it is now'} → 0 %, at once.`,
    confirmLabel: 'Roll back to 0 %',
    danger: true,
    action: (w) => change('canary/rollback', w, (r) => `Rolled back to ${pct(r.summary.weight_percent)} (version ${r.version}).`, null),
  });
}

function onPromote() {
  const s = loadedSummary();
  if (!s) return;
  confirmBased({
    title: 'Promote the canary',
    summary: `The canary's release (${s.canary_release || s.canary_origin}) becomes stable for all traffic;`
      + ' the canary is cleared (no canary origin, weight 0 %), and no cache tier serves the previous release again.'
      + (s.weight_percent < 100 ? ` Careful: the canary is at ${pct(s.weight_percent)}, not 100 %.` : ''),
    confirmLabel: 'Promote',
    danger: true,
    action: (w, based) => change('canary/promote', w,
      (r) => `Promoted: stable is now ${r.summary.stable_origin} (version ${r.version}).`, based),
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
  // Hidden tabs do not poll; coming back checks at once.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && pollTimer !== null) poll();
  });
}
