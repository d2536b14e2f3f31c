// The Cache panel: counters by route and variant, purge (URLs, prefix, everything) and a warmup
// that runs one path at a time so each row shows its progress.

import { api, ApiError } from './api.js';
import { $, h, fill, pathText, dateTime, ms, describeError, confirmChange } from './ui.js';
import { config, refreshAudit } from './canary.js';

const COUNTERS = ['hit', 'miss', 'stale', 'revalidated', 'expired', 'bypass', 'errors', 'fallbacks'];

function hitRateCell(rate) {
  if (rate === null || rate === undefined) return h('td', { className: 'rate muted' }, 'no lookups');
  const p = Math.round(rate * 1000) / 10;
  const fillEl = h('span', { className: 'rate-fill' });
  fillEl.style.width = `${p}%`;
  return h('td', { className: 'rate' },
    h('span', { className: 'rate-bar', 'aria-hidden': 'true' }, fillEl),
    h('span', { className: 'rate-text' }, `${p} %`));
}

function statsRow(r, cls) {
  return h('tr', { className: cls, 'data-route': r.route, 'data-variant': r.variant },
    h(cls === 'total' ? 'th' : 'td', cls === 'total' ? { scope: 'row' } : {}, r.route === '*' ? 'All routes' : r.route),
    h('td', {}, r.variant === '*' ? 'both' : h('span', { className: `tag tag-${r.variant}` }, r.variant)),
    COUNTERS.map((c) => h('td', { className: 'num' }, String(r[c] ?? 0))),
    hitRateCell(r.hit_rate));
}

const kib = (bytes) => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);

/** The isolate's in-memory tier (in front of the Cache API). */
function showMemory(m) {
  const el = $('stats-memory');
  if (!m) {
    el.textContent = '';
    return;
  }
  el.dataset.entries = String(m.entries);
  el.textContent = m.capacity_bytes === 0
    ? 'Memory tier: off (MEMORY_CACHE_BYTES=0); every hit is a Cache API hit.'
    : `Memory tier: ${m.entries} entries, ${kib(m.used_bytes)} of ${kib(m.capacity_bytes)}; ` +
      `${m.hits} hits, ${m.misses} misses, ${m.evictions} evictions (this isolate; entries live at most STATE_REFRESH_MS).`;
}

/** Reads the counters. */
export async function refreshStats() {
  try {
    const s = await api('GET', 'cache/stats');
    $('stats-scope').textContent = `counters of the answering isolate since ${dateTime(s.since_ms)}`;
    $('stats-scope').title = s.note || '';
    const rows = [...(s.routes || [])].sort((a, b) => a.route.localeCompare(b.route) || a.variant.localeCompare(b.variant));
    fill($('stats-body'), rows.length
      ? rows.map((r) => statsRow(r, ''))
      : h('tr', {}, h('td', { colSpan: 11, className: 'muted' }, 'No cache lookups counted by this isolate yet.')));
    fill($('stats-foot'), statsRow(s.total, 'total'));
    showMemory(s.memory);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) {
      fill($('stats-body'), h('tr', {}, h('td', { colSpan: 11, className: 'error' }, describeError(e))));
    }
  }
}

// --- Purge -------------------------------------------------------------------------------------

function purgeKind() {
  return document.querySelector('input[name="purge-kind"]:checked').value;
}

function syncPurgeKind() {
  const kind = purgeKind();
  $('purge-tags-field').hidden = kind !== 'tags';
  $('purge-urls-field').hidden = kind !== 'urls';
  $('purge-prefix-field').hidden = kind !== 'prefix';
  $('purge-everything-note').hidden = kind !== 'everything';
  $('btn-purge').textContent = kind === 'everything' ? 'Purge everything…' : 'Purge…';
}

function purgeResult(r) {
  const targets = Array.isArray(r.targets) ? r.targets : [];
  const urls = targets.map((t) => (t.query_variants ? `${t.url} (every query)` : t.url));
  let what;
  if (r.purged === 'everything') what = r.mode === 'soft' ? 'everything, soft' : `everything (generation is now ${r.generation})`;
  else if (r.purged === 'prefix') what = `prefix ${targets[0]?.prefix}`;
  else if (r.purged === 'tags') what = `tag${targets.length === 1 ? '' : 's'} ${targets.map((t) => t.tag).join(', ')}`;
  else what = `${urls.length} URL${urls.length === 1 ? '' : 's'}: ${urls.join(', ')}`;
  what += r.mode === 'soft' ? ' — soft: served stale while refreshed' : '';
  return [
    h('p', { className: 'ok' }, h('strong', {}, 'Purged '), what),
    h('p', { className: 'muted small' },
      `purge version ${r.purge_version} · ban ids ${r.ban_ids?.length ? r.ban_ids.join(', ') : 'none'}`
      + ` · audited as ${r.audit?.actor ?? '?'} · ${r.propagation || ''}`
      + (r.published === false ? ' · not yet published to KV (retried automatically)' : '')),
  ];
}

function onPurge(ev) {
  ev.preventDefault();
  const kind = purgeKind();
  const result = $('purge-result');
  result.classList.remove('error');
  let body;
  let summary;
  let input = null;
  const soft = document.querySelector('input[name="purge-mode"]:checked')?.value === 'soft';
  if (kind === 'tags') {
    input = $('purge-tags');
    const tags = input.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
    if (tags.length === 0) {
      input.setAttribute('aria-invalid', 'true');
      fill(result, h('p', { className: 'error' }, 'List at least one tag to purge, e.g. category:10101.'));
      input.focus();
      return;
    }
    body = { tags };
    summary = `Purge every entry tagged ${tags.join(', ')}: every route, language, variant and query carrying it.`;
  } else if (kind === 'urls') {
    input = $('purge-urls');
    const urls = input.value.split('\n').map((s) => s.trim()).filter(Boolean);
    if (urls.length === 0) {
      input.setAttribute('aria-invalid', 'true');
      fill(result, h('p', { className: 'error' }, 'List at least one URL path to purge, one per line.'));
      input.focus();
      return;
    }
    body = { urls, include_query_variants: $('purge-query-variants').checked ? undefined : false };
    summary = `Purge every language and variant of ${urls.length} URL${urls.length === 1 ? '' : 's'}: ${urls.join(', ')}`
      + ($('purge-query-variants').checked ? ' (a path without a query: every query of it).' : ' (exactly as given).');
  } else if (kind === 'prefix') {
    input = $('purge-prefix');
    const prefix = input.value.trim();
    if (!prefix) {
      input.setAttribute('aria-invalid', 'true');
      fill(result, h('p', { className: 'error' }, 'Enter the path prefix to purge, e.g. /api/v1/.'));
      input.focus();
      return;
    }
    body = { prefix };
    summary = `Purge every cached entry whose path starts with ${prefix}, in every data centre.`;
  } else {
    body = { everything: true };
    summary = 'Purge EVERYTHING: every route, language and variant. The origin will take the full load until the cache refills.';
  }
  input?.removeAttribute('aria-invalid');
  if (soft) {
    body.mode = 'soft';
    summary += ' Soft: each entry is served stale once while one refresh fetches the new one.';
  }
  confirmChange({
    title: kind === 'everything' ? 'Purge the whole cache' : 'Purge the cache',
    summary,
    confirmLabel: kind === 'everything' ? 'Purge everything' : 'Purge',
    danger: true,
    action: async (w) => {
      try {
        const r = await api('POST', 'cache/purge', { ...body, reason: w.reason });
        fill(result, purgeResult(r));
        refreshStats();
        refreshAudit();
        return r;
      } catch (e) {
        if (e instanceof ApiError && input && (e.field || '').match(/^(urls|prefix|tags)/)) input.setAttribute('aria-invalid', 'true');
        throw e;
      }
    },
  });
}

// --- Warmup ------------------------------------------------------------------------------------

let warming = false;

function warmupPaths() {
  return config()?.cache?.warmup_paths ?? [];
}

/** Lists the configured warmup paths, all waiting. */
export function renderWarmupPlan() {
  if (warming) return;
  const paths = warmupPaths();
  const langs = config()?.cache?.languages ?? [];
  const summary = config()?.in_force?.summary;
  const variants = summary?.canary_origin && summary.weight_bp > 0 ? 'stable and canary' : 'stable';
  $('warmup-help').textContent = `${paths.length} configured paths × ${variants} × ${langs.length} languages (${langs.join(', ')}), one path at a time.`;
  fill($('warmup-body'), paths.map((p) => h('tr', { 'data-path': p, 'data-state': 'waiting' },
    h('td', { className: 'path' }, pathText(p)),
    h('td', { className: 'state' }, h('span', { className: 'pill pill-waiting' }, 'waiting')),
    h('td', { className: 'num' }, '–'), h('td', {}, '–'), h('td', { className: 'num' }, '–'))));
}

function setRow(row, state, jobs, outcomes, slowest) {
  row.setAttribute('data-state', state);
  const label = { waiting: 'waiting', running: 'running…', done: 'done', failed: 'failed', error: 'error' }[state];
  fill(row.children[1], h('span', { className: `pill pill-${state}` }, label));
  row.children[2].textContent = jobs;
  row.children[3].textContent = outcomes;
  row.children[4].textContent = slowest;
}

async function onWarmup() {
  if (warming) return;
  const paths = warmupPaths();
  if (paths.length === 0) return;
  // Every warmup goes into the audit log with its reason (one entry per path warmed).
  const reason = await confirmChange({
    title: 'Warm the cache',
    summary: `Fetch ${paths.length} configured paths through the cache, one at a time, for every active variant and language.`,
    confirmLabel: 'Warm up',
    action: async (w) => w.reason,
  });
  if (!reason) return;
  warming = true;
  const btn = $('btn-warmup');
  btn.disabled = true;
  const summary = $('warmup-summary');
  fill($('warmup-body'), paths.map((p) => h('tr', { 'data-path': p, 'data-state': 'waiting' },
    h('td', { className: 'path' }, pathText(p)), h('td', {}), h('td', { className: 'num' }), h('td', {}), h('td', { className: 'num' }))));
  const rows = [...$('warmup-body').children];
  rows.forEach((row) => setRow(row, 'waiting', '–', '–', '–'));
  let ok = 0;
  let failed = 0;
  const started = performance.now();
  try {
    for (let i = 0; i < paths.length; i++) {
      const row = rows[i];
      summary.textContent = `Warming ${i + 1} of ${paths.length}: ${paths[i]}`;
      setRow(row, 'running', '…', '', '');
      try {
        const r = await api('POST', 'cache/warmup', { paths: [paths[i]], reason });
        ok += r.ok;
        failed += r.failed;
        const counts = {};
        for (const j of r.results || []) counts[j.outcome] = (counts[j.outcome] || 0) + 1;
        const outcomes = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
        const slowest = Math.max(0, ...(r.results || []).map((j) => j.ms || 0));
        setRow(row, r.failed > 0 ? 'failed' : 'done', `${r.ok}/${r.jobs}`, outcomes, ms(slowest));
        if (r.failed > 0) {
          row.title = (r.results || []).filter((j) => j.status !== 200).map((j) => `${j.variant}/${j.lang}: ${j.status} ${j.outcome}`).join('\n');
        }
      } catch (e) {
        setRow(row, 'error', '–', describeError(e), '–');
        failed += 1;
        if (e instanceof ApiError && e.status === 401) break;
      }
    }
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    summary.textContent = `Finished in ${secs} s: ${ok} jobs ok, ${failed} failed.`;
  } finally {
    warming = false;
    btn.disabled = false;
    refreshStats();
    refreshAudit();
  }
}

/** Wires the panel's controls once. */
export function init() {
  document.querySelectorAll('input[name="purge-kind"]').forEach((r) => r.addEventListener('change', syncPurgeKind));
  syncPurgeKind();
  $('purge-form').addEventListener('submit', onPurge);
  $('btn-warmup').addEventListener('click', onWarmup);
  $('stats-refresh').addEventListener('click', refreshStats);
}
