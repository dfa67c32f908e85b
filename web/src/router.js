// A small history router: every screen has a URL (deep links, back/forward), plain <a href> links are
// intercepted for same-origin app paths, and the query string carries a screen's state (filters, sort).
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

function snapshot() {
  const { pathname, search, hash } = window.location;
  return { pathname, search, hash, query: new URLSearchParams(search), href: pathname + search + hash };
}

let loc = snapshot();

function emit(kind) {
  loc = snapshot();
  listeners.forEach((fn) => fn(loc, kind));
}

export function location() {
  return loc;
}

/** Go to an app URL; `replace` rewrites the current history entry (filters) instead of adding one. */
export function navigate(to, { replace = false } = {}) {
  if (to === loc.href) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  emit(replace ? 'replace' : 'push');
  if (!replace) window.scrollTo(0, 0);
}

/** Rewrites the query string (null/'' removes a key), keeping the path: for state a URL should reflect. */
export function setQuery(changes, { replace = true } = {}) {
  const q = new URLSearchParams(loc.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(loc.pathname + (s ? `?${s}` : '') + loc.hash, { replace });
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function useLocation() {
  const [state, set] = useState(loc);
  useEffect(() => subscribe((l) => set(l)), []);
  return state;
}

/** `/sites/:id` against `/sites/abc` → {id: 'abc'}; null when it does not match. */
export function match(pattern, pathname) {
  const p = pattern.split('/');
  const s = pathname.replace(/\/+$/, '').split('/');
  if (pathname === '/' && pattern === '/') return {};
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      if (!s[i]) return null;
      try {
        params[p[i].slice(1)] = decodeURIComponent(s[i]);
      } catch {
        return null;
      }
    } else if (p[i] !== s[i]) return null;
  }
  return params;
}

window.addEventListener('popstate', () => emit('pop'));

// Same-origin links to app paths navigate in place; modified clicks, downloads, other targets and the
// API's own paths behave as the browser would.
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest && event.target.closest('a[href]');
  if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download')) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin) return;
  if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) return; // in-page (skip link)
  if (/^\/(api|docs|static|health|ready|metrics)(\/|$)/.test(url.pathname) || url.pathname === '/openapi.json') return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});
