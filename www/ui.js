// Small DOM helpers, formatting, and the one confirmation dialog every change goes through.

import { ApiError, operator } from './api.js';

/** `document.getElementById`, failing loudly when the page and the script disagree. */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el;
}

/**
 * Builds an element: `h('td', {className: 'num'}, '12')`. Children are strings (as text, never
 * HTML) or nodes; attributes are set as properties, or with setAttribute for `data-*`/`aria-*`.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') el.setAttribute(k, String(v));
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A URL path as text that may wrap after each `/` (never inside a segment). */
export function pathText(path) {
  const parts = String(path).split('/');
  const out = document.createDocumentFragment();
  parts.forEach((part, i) => {
    if (i > 0) out.append('/', document.createElement('wbr'));
    out.append(part);
  });
  return out;
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** Shows or hides an element with the `hidden` attribute, setting its text when shown. */
export function show(el, text) {
  if (text === undefined || text === null || text === '') {
    el.hidden = true;
    el.textContent = '';
  } else {
    el.hidden = false;
    el.textContent = text;
  }
}

/** A percentage for people: `25 %`, `12.5 %`. */
export function pct(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  const n = Number(value);
  return `${Number.isInteger(n) ? n : n.toFixed(2).replace(/0+$/, '').replace(/\.$/, '')} %`;
}

/** Basis points as a percentage: `2500` → `25 %`. */
export function bpPct(bp) {
  return bp === null || bp === undefined ? '–' : pct(bp / 100);
}

/** A local date-time: `2026-11-26 15:22:05`. */
export function dateTime(ms) {
  if (!ms) return '–';
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Milliseconds for people: `3 ms`, `12.4 ms`. */
export function ms(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return `${value >= 10 || Number.isInteger(value) ? Math.round(value) : value.toFixed(1)} ms`;
}

/** The text for any failure. */
export function describeError(e) {
  if (e instanceof ApiError) return e.describe();
  return `Unexpected error: ${e instanceof Error ? e.message : String(e)}`;
}

// --- The confirmation dialog ---------------------------------------------------------------

let pending = null;

/**
 * Asks why (the actor is the operator the admin token names, shown in the dialog), then runs
 * `action({reason})` while the dialog stays open. Resolves to the action's result, or null when
 * cancelled. A 400 keeps the dialog open with the field named (and focused when it is the
 * reason); any other failure is shown in the dialog too.
 * @param {{title: string, summary: string, confirmLabel?: string, danger?: boolean,
 *          action: (w: {reason: string}) => Promise<any>}} opts
 */
export function confirmChange(opts) {
  const dialog = $('confirm-dialog');
  const reasonInput = $('confirm-reason');
  const ok = $('confirm-ok');
  $('confirm-title').textContent = opts.title;
  $('confirm-summary').textContent = opts.summary;
  $('confirm-who').textContent = operator() ? `Recorded in the audit log as ${operator()}.` : '';
  ok.textContent = opts.confirmLabel || 'Confirm';
  ok.className = opts.danger ? 'btn btn-danger' : 'btn btn-primary';
  ok.disabled = false;
  reasonInput.value = '';
  reasonInput.removeAttribute('aria-invalid');
  show($('confirm-error'));
  show($('confirm-warning'));
  return new Promise((resolve) => {
    pending = { opts, resolve };
    dialog.showModal();
    reasonInput.focus();
  });
}

/** True while the confirmation dialog is open. */
export function confirming() {
  return pending !== null;
}

/** Shows a warning in the open dialog (e.g. the state it was opened on has changed). */
export function warnInDialog(text) {
  if (pending) show($('confirm-warning'), text);
}

function finish(result) {
  const dialog = $('confirm-dialog');
  const p = pending;
  pending = null;
  if (dialog.open) dialog.close();
  if (p) p.resolve(result);
}

function markInvalid(input, message) {
  input.setAttribute('aria-invalid', 'true');
  show($('confirm-error'), message);
  input.focus();
}

/** Wires the dialog's buttons once. */
export function initDialog() {
  const dialog = $('confirm-dialog');
  const form = $('confirm-form');
  const reasonInput = $('confirm-reason');
  const ok = $('confirm-ok');
  $('confirm-cancel').addEventListener('click', () => finish(null));
  // Escape closes a modal dialog: treat it as Cancel.
  dialog.addEventListener('close', () => finish(null));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!pending || ok.disabled) return;
    const why = reasonInput.value.trim();
    reasonInput.removeAttribute('aria-invalid');
    if (!why) return markInvalid(reasonInput, 'Give a reason: it goes into the audit log.');
    ok.disabled = true;
    show($('confirm-error'));
    const { opts } = pending;
    try {
      const result = await opts.action({ reason: why });
      finish(result);
    } catch (e) {
      ok.disabled = false;
      if (!pending) return;
      if (e instanceof ApiError && e.field === 'reason') return markInvalid(reasonInput, e.describe());
      show($('confirm-error'), describeError(e));
      if (e instanceof ApiError && e.status === 401) finish(null);
    }
  });
}
