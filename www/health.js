// The Health panel: the worker's own report (`/__edge/health`, no token) and the origins'
// readiness (`GET /__edge/api/origins`).

import { api, health, ApiError } from './api.js';
import { $, h, fill, ms, describeError } from './ui.js';

function badge(ok, good, bad) {
  return h('span', { className: `pill ${ok ? 'pill-done' : 'pill-error'}` }, ok ? good : bad);
}

function renderReport(r) {
  // Why the worker is not ok: each part of the report that says so, named.
  const reasons = [
    ['configuration', r.config?.status === 'invalid' ? 'invalid (see below)' : null],
    ['rollout config', r.rollout?.problem],
    ['purge state', r.purge?.problem],
    ['admin API', r.admin?.problem],
    ['canary', r.canary?.problem],
    ['Cache API', r.cache_api && r.cache_api.status !== 'ok' ? `lookups failing (${r.cache_api.last_error})` : null],
  ].filter(([, why]) => why);
  fill($('health-worker'),
    h('span', {}, `${r.service || 'worker'} `), h('strong', { id: 'health-version' }, `v${r.version}`), ' ',
    badge(r.status === 'ok', 'ok', r.status || 'unknown'),
    r.status !== 'ok' && reasons.length
      ? h('ul', { className: 'error-list', id: 'health-reasons' }, reasons.map(([what, why]) => h('li', {}, `${what}: ${why}`)))
      : null);
  $('brand-version').textContent = `v${r.version}`;

  const c = r.config || {};
  const cfgOk = c.status === 'valid';
  fill($('health-config'), badge(cfgOk, 'valid', 'invalid'),
    c.origin ? h('span', { className: 'muted small' }, ` origin ${c.origin}`) : null,
    !cfgOk && c.errors?.length ? h('ul', { className: 'error-list' }, c.errors.map((e) => h('li', {}, e))) : null);

  const ro = r.rollout;
  if (!ro) {
    fill($('health-rollout'), h('span', { className: 'muted' }, 'not reported'));
  } else {
    fill($('health-rollout'), badge(ro.status === 'valid', 'valid', 'invalid'),
      h('span', { className: 'muted small' }, ` version ${ro.version} from ${ro.source}, weight ${ro.weight_bp / 100} %`),
      ro.problem ? h('p', { className: 'error' }, ro.problem) : null);
  }

  // The Cache API as this isolate's lookups found it: a failed lookup is served as a miss (the
  // origin answers), so this is where it shows.
  const cache = r.cache_api;
  fill($('health-cache-api'), !cache ? h('span', { className: 'muted' }, 'not reported')
    : h('span', {},
      badge(cache.status === 'ok', 'ok', cache.status),
      h('span', { className: 'muted small' },
        ` ${cache.lookup_failures} lookup${cache.lookup_failures === 1 ? '' : 's'} failed in this isolate` +
        (cache.lookup_failures ? ', each served as a miss' : '')),
      cache.last_error ? h('p', { className: 'error small' },
        `last: ${cache.last_error} (${new Date(cache.last_at_ms).toISOString().slice(11, 19)} UTC)`) : null));

  // REQUEST_LOG: which requests get a log line, and what this isolate left out.
  const log = r.request_log;
  fill($('health-request-log'), !log ? h('span', { className: 'muted' }, 'not reported')
    : h('span', {},
      h('code', {}, log.setting),
      h('span', { className: 'muted small' },
        ` ${log.written} written, ${log.skipped} left out by this isolate` +
        (log.setting === 'all' ? '' : ' (failures always logged; metrics count every request)'))));
}

function originItem(name, o) {
  if (o === null || o === undefined) {
    return h('li', { className: 'origin', 'data-origin': name, 'data-reachable': 'none' },
      h('span', { className: 'origin-name' }, name), h('span', { className: 'muted' }, 'not configured'));
  }
  const state = o.ready ? 'ready' : o.reachable ? 'reachable, not ready' : 'unreachable';
  return h('li', { className: 'origin', 'data-origin': name, 'data-reachable': String(o.reachable) },
    h('span', { className: 'origin-name' }, name),
    h('span', { className: `pill ${o.ready ? 'pill-done' : o.reachable ? 'pill-failed' : 'pill-error'}` }, state),
    h('span', { className: 'origin-detail' },
      h('code', {}, o.url),
      h('span', { className: 'muted small' },
        ` ${o.status !== null && o.status !== undefined ? `HTTP ${o.status}` : 'no answer'} · ${ms(o.ms)}`),
      o.error ? h('span', { className: 'error small' }, ` ${o.error}`) : null));
}

/** Reads both reports. */
export async function refresh() {
  const [report, origins] = await Promise.allSettled([health(), api('GET', 'origins')]);
  if (report.status === 'fulfilled') renderReport(report.value);
  else fill($('health-worker'), h('span', { className: 'error' }, describeError(report.reason)));
  if (origins.status === 'fulfilled') {
    fill($('health-origins'), originItem('stable', origins.value.stable), originItem('canary', origins.value.canary));
  } else if (!(origins.reason instanceof ApiError && origins.reason.status === 401)) {
    fill($('health-origins'), h('li', { className: 'error' }, describeError(origins.reason)));
  }
}

/** Wires the panel's controls once. */
export function init() {
  $('health-refresh').addEventListener('click', () => refresh());
}
