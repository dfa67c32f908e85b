// The API client: the signed-in person's ID token on every call, problem+json errors as ApiError, and
// conditional GETs: each GET sends If-None-Match with the ETag it last saw for that URL, and a 304 answers
// with what was kept. A 401 means the session is over: the app sends the person to sign in again.
import { apiBase, idToken } from './auth.js';

const kept = new Map(); // url -> {etag, data}
const MAX_KEPT = 200;
let unauthorized = () => {};

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `Request failed (${status})`);
    this.status = status;
    this.problem = problem || {};
  }
  get errors() {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

export function onUnauthorized(fn) {
  unauthorized = fn;
}

function keep(url, etag, data) {
  if (kept.size >= MAX_KEPT) kept.delete(kept.keys().next().value);
  kept.set(url, { etag, data });
}

/**
 * `request('GET', '/api/v1/sites')` → {status, data, etag, location, changed}. `ifMatch` is an ETag for
 * optimistic concurrency (a stale one is a 412). Throws ApiError on any status ≥ 400.
 */
export async function request(method, path, { body, ifMatch, signal } = {}) {
  const url = apiBase() + path;
  const headers = { Accept: 'application/json' };
  const token = await idToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (ifMatch) headers['If-Match'] = ifMatch;
  const held = method === 'GET' ? kept.get(url) : undefined;
  if (held && held.etag) headers['If-None-Match'] = held.etag;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, { title: 'Network error', detail: 'The server cannot be reached. Check your connection and try again.' });
  }
  if (res.status === 304 && held) {
    return { status: 304, data: held.data, etag: held.etag, changed: false };
  }
  const type = res.headers.get('Content-Type') || '';
  const data = res.status === 204 ? null : type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (res.status === 401) {
    kept.clear();
    unauthorized();
  }
  if (!res.ok) throw new ApiError(res.status, data && typeof data === 'object' ? data : null);
  const etag = res.headers.get('ETag');
  if (method === 'GET') {
    if (etag) keep(url, etag, data);
  } else {
    kept.delete(url);
  }
  return { status: res.status, data, etag, location: res.headers.get('Location'), changed: true };
}

export const get = (path, opts) => request('GET', path, opts);
export const post = (path, body, opts) => request('POST', path, { ...opts, body });
export const patch = (path, body, opts) => request('PATCH', path, { ...opts, body });
export const put = (path, body, opts) => request('PUT', path, { ...opts, body });
export const del = (path, opts) => request('DELETE', path, opts);

/** Every item of a paged list (follows next_cursor), up to `max`. */
export async function all(path, { max = 5000, signal } = {}) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { signal });
    items.push(...page.data.items);
    cursor = page.data.next_cursor;
  } while (cursor && items.length < max);
  return items;
}

/** `?a=1&b=x&b=y` from {a: 1, b: ['x', 'y']}, leaving out empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) {
      if (one !== null && one !== undefined && one !== '') q.append(k, one);
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function forget() {
  kept.clear();
}
