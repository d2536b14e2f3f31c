// catalog-edge release-manager dashboard: sign-in, then the Canary, Cache, Live probe and Health
// panels. Plain ES modules, same-origin API calls, no inline code (the page's CSP forbids it).

import { api, ApiError, token, setToken, operator, setOperator, onUnauthorized } from './api.js';
import { $, show, describeError, initDialog } from './ui.js';
import * as canary from './canary.js';
import * as analysis from './analysis.js';
import * as cache from './cache.js';
import * as health from './health.js';
import * as probe from './probe.js';

function showSignIn(message) {
  $('main').hidden = true;
  $('topnav').hidden = true;
  $('session').hidden = true;
  $('signin-view').hidden = false;
  show($('signin-error'), message);
  $('signin-token').value = '';
  $('signin-token').focus();
}

async function loadAll() {
  // The canary config first: the cache and probe panels read its warmup paths.
  await canary.refresh();
  canary.startPolling();
  const who = canary.config()?.operator;
  if (who && who !== operator()) {
    setOperator(who);
    $('session-who').textContent = `Signed in as ${who}`;
  }
  cache.renderWarmupPlan();
  probe.renderPaths();
  await Promise.all([cache.refreshStats(), health.refresh(), analysis.refreshRollout(), analysis.refreshAnalysis()]);
  analysis.startPolling();
}

function showDashboard() {
  $('signin-view').hidden = true;
  $('main').hidden = false;
  $('topnav').hidden = false;
  $('session').hidden = false;
  $('session-who').textContent = operator() ? `Signed in as ${operator()}` : 'Signed in';
}

async function signIn(ev) {
  ev.preventDefault();
  const tokenInput = $('signin-token');
  const value = tokenInput.value.trim();
  tokenInput.removeAttribute('aria-invalid');
  if (!value) {
    tokenInput.setAttribute('aria-invalid', 'true');
    show($('signin-error'), 'Enter the admin token.');
    tokenInput.focus();
    return;
  }
  const submit = $('signin-submit');
  submit.disabled = true;
  show($('signin-error'));
  let who = '';
  try {
    // One authenticated call proves the token before anything is kept; it also says which
    // operator the token names.
    who = (await api('GET', 'config', undefined, { token: value, quiet401: true })).operator || '';
  } catch (e) {
    const rejected = e instanceof ApiError && e.status === 401;
    if (rejected) tokenInput.setAttribute('aria-invalid', 'true');
    show($('signin-error'), rejected
      ? 'That token was rejected (401 unauthorized): it is none of the worker’s admin tokens.'
      : describeError(e));
    tokenInput.select();
    return;
  } finally {
    submit.disabled = false;
  }
  setToken(value);
  setOperator(who);
  showDashboard();
  $('main').focus();
  try {
    await loadAll();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) show($('banner'), describeError(e));
  }
}

function signOut(message) {
  canary.stopPolling();
  analysis.stopPolling();
  setToken(null);
  setOperator(null);
  show($('banner'));
  showSignIn(message);
}

function start() {
  initDialog();
  canary.init(() => {
    cache.renderWarmupPlan();
    health.refresh();
  });
  cache.init();
  health.init();
  analysis.init(() => canary.refresh().catch(() => {}));
  probe.init(() => cache.refreshStats());
  $('signin-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signOut());
  $('refresh-all').addEventListener('click', () => loadAll().catch(() => {}));
  onUnauthorized(() => signOut('The admin token was rejected (401 unauthorized) — it may have been rotated. Sign in again.'));
  window.addEventListener('unhandledrejection', (ev) => {
    const banner = $('banner');
    show(banner, describeError(ev.reason));
    ev.preventDefault();
  });

  if (token()) {
    showDashboard();
    loadAll().catch((e) => {
      if (!(e instanceof ApiError && e.status === 401)) show($('banner'), describeError(e));
    });
  } else {
    showSignIn();
  }
}

start();
