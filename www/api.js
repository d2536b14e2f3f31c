// The admin API client: same-origin relative URLs, the bearer token from sessionStorage, and one
// error type that carries the API's `{error, detail, field}` problem document.

const TOKEN_KEY = 'catalog-edge.admin-token';
const OPERATOR_KEY = 'catalog-edge.operator';

/** The admin token of this tab (sessionStorage only), or null. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps the admin token for this tab, or forgets it (null). */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The operator the token names (the audit log's actor for every change made here), or ''. */
export function operator() {
  return sessionStorage.getItem(OPERATOR_KEY) || '';
}

/** Remembers the operator the worker said the token names. */
export function setOperator(value) {
  if (value) sessionStorage.setItem(OPERATOR_KEY, value);
  else sessionStorage.removeItem(OPERATOR_KEY);
}

/** An API or network failure, ready to show. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 for a network error
   * @param {string} code the API's error word (`unauthorized`, `invalid_request`, …) or `network`
   * @param {string} detail the API's sentence
   * @param {string|null} field the offending field's path, for 400s
   * @param {object|null} current the state a 409 conflicted with
   */
  constructor(status, code, detail, field = null, current = null) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.field = field;
    this.current = current;
  }

  /** One line for people: what failed and, for bad input, which field. */
  describe() {
    if (this.status === 0) return `Network error: the worker did not answer (${this.detail}).`;
    if (this.status === 401) return 'The admin token was rejected (401 unauthorized). Sign in again with the current token.';
    const head = `${this.status} ${this.code}`;
    if (!this.field) return `${head}: ${this.detail}`;
    // The API's detail starts with the field's path ("weight: 150 is over 100 %"); name it once.
    const prefix = `${this.field}: `;
    const detail = this.detail.startsWith(prefix) ? this.detail.slice(prefix.length) : this.detail;
    return `${head} — field “${this.field}”: ${detail}`;
  }
}

/** Listeners told when any call comes back 401 (the token was rotated or is wrong). */
const unauthorizedListeners = new Set();

/** Calls `fn` whenever an admin call is rejected with 401. */
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
}

async function problemOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (body && typeof body === 'object' && body.error) {
    return new ApiError(res.status, String(body.error), String(body.detail || ''), body.field ?? null, body.current ?? null);
  }
  return new ApiError(res.status, res.statusText || 'error', `unexpected ${res.status} answer`);
}

/**
 * Calls the admin API at `/__edge/api/<path>`; resolves to the JSON body, throws ApiError.
 * @param {string} method
 * @param {string} path relative to /__edge/api/
 * @param {object} [body] sent as JSON
 * @param {{token?: string, quiet401?: boolean, ifMatch?: number}} [opts] `ifMatch`: the version
 *   the change is based on (sent as `If-Match`; the worker answers 409 when it moved on)
 */
export async function api(method, path, body, opts = {}) {
  const headers = { Authorization: `Bearer ${opts.token ?? token() ?? ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.ifMatch !== undefined && opts.ifMatch !== null) headers['If-Match'] = `"${opts.ifMatch}"`;
  let res;
  try {
    res = await fetch(`api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
  }
  if (!res.ok) {
    const err = await problemOf(res);
    if (err.status === 401 && !opts.quiet401) unauthorizedListeners.forEach((fn) => fn(err));
    throw err;
  }
  return res.json();
}

/** `GET /__edge/health` (no token): resolves to the report, also when it says 503. */
export async function health() {
  let res;
  try {
    res = await fetch('health', { cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
  }
  try {
    return await res.json();
  } catch {
    throw new ApiError(res.status, 'bad_response', 'the health report is not JSON');
  }
}
