// Live data for the screens (docs/live.md): one WebSocket per tab once someone is signed in, and conditional
// polling as the fallback.
//
// The socket: `/config.json`'s `live` URL, else ws(s)://<the API's origin>/ws, with `?token=<ID token>` (a fresh
// one on every connect); reconnects with exponential backoff and jitter (1 s, 2 s, 4 s … 30 s); a ping every
// 5 minutes keeps API Gateway's 10-minute idle timeout away; a site screen subscribes to its site, narrowed to
// the asset it shows. Frames are hints: every (re)connect refetches what is on screen.
//
// Polling: `subscribe(path, …)` GETs its URL every 5 s with If-None-Match (304 when nothing changed), paused
// while the tab is hidden. A subscription that says which frames carry its changes (`frames`) stops polling
// while the socket is open and applies those frames instead; one that names none (a report's progress) polls
// regardless.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from './api.js';
import { idToken, loadConfig } from './auth.js';

export const POLL_MS = 5000;
const PING_MS = 5 * 60 * 1000;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;

let socket = null; // the WebSocket, connecting or open
let isOpen = false;
let wanted = false; // someone is signed in: keep a socket
let attempt = 0; // failed connects since the last open
let retryTimer = 0;
let pingTimer = 0;
let syncTimer = 0;
const statusListeners = new Set();
const frameListeners = new Map(); // frame type -> Set of fn(frame)
const watchers = new Set(); // {siteId, assetId}: what the screens want
const subscribed = new Map(); // site id -> asset id (or null) as subscribed on this socket

/** The socket's URL without the token: the configured one, else /ws at the API's origin. */
export function socketUrl(config) {
  if (config && config.live) return config.live;
  const base = new URL((config && config.api) || '/', window.location.href);
  return `${base.protocol === 'https:' ? 'wss:' : 'ws:'}//${base.host}/ws`;
}

/** Whether frames are arriving (the socket is open); polling is the fallback otherwise. */
export const live = () => isOpen;

function setOpen(value) {
  if (isOpen === value) return;
  isOpen = value;
  statusListeners.forEach((fn) => fn(value));
}

export function onStatus(fn) {
  statusListeners.add(fn);
  return () => statusListeners.delete(fn);
}

/** Calls fn(frame) for every frame of `type` ('alert', 'readings', …). Returns a stop function. */
export function onFrame(type, fn) {
  if (!frameListeners.has(type)) frameListeners.set(type, new Set());
  frameListeners.get(type).add(fn);
  return () => frameListeners.get(type).delete(fn);
}

function send(frame) {
  if (socket && isOpen) socket.send(JSON.stringify(frame));
}

/** Opens the socket (after sign-in); idempotent. */
export function startLive() {
  wanted = true;
  if (!socket && !retryTimer) connect();
}

/** Closes it for good (sign-out). */
export function stopLive() {
  wanted = false;
  clearTimeout(retryTimer);
  retryTimer = 0;
  attempt = 0;
  if (socket) {
    const s = socket;
    socket = null;
    s.close(1000, 'signed out');
  }
  closed();
}

function closed() {
  clearInterval(pingTimer);
  subscribed.clear();
  setOpen(false);
}

async function connect() {
  retryTimer = 0;
  if (!wanted || socket) return;
  let url;
  let token;
  try {
    [url, token] = await Promise.all([loadConfig().then(socketUrl), idToken()]);
  } catch {
    retry();
    return;
  }
  if (!wanted || socket || !token) return;
  let s;
  try {
    s = new WebSocket(`${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`);
  } catch {
    retry();
    return;
  }
  socket = s;
  s.onopen = () => {
    if (socket !== s) return;
    attempt = 0;
    subscribed.clear();
    clearInterval(pingTimer);
    pingTimer = setInterval(() => send({ action: 'ping' }), PING_MS);
    setOpen(true);
    sync();
  };
  s.onmessage = (event) => {
    if (socket !== s) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    if (frame.type === 'error' && /connect again/i.test(String(frame.detail || ''))) {
      s.close(4000, 'unknown connection'); // the server forgot it: a new one
      return;
    }
    const fns = frameListeners.get(frame.type);
    if (fns) fns.forEach((fn) => fn(frame));
  };
  s.onclose = () => {
    if (socket !== s) return;
    socket = null;
    closed();
    retry();
  };
  s.onerror = () => {}; // a close follows
}

function retry() {
  if (!wanted || retryTimer) return;
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  attempt += 1;
  retryTimer = setTimeout(connect, ceiling / 2 + Math.random() * (ceiling / 2));
}

// -- site subscriptions: what the screens watch, sent once the socket is open (again after each reconnect) ----

function sync() {
  syncTimer = 0;
  if (!isOpen) return;
  const want = new Map();
  watchers.forEach((w) => want.set(w.siteId, w.assetId || null));
  want.forEach((assetId, siteId) => {
    if (subscribed.has(siteId) && subscribed.get(siteId) === assetId) return;
    send(assetId ? { action: 'subscribe', site_id: siteId, asset_id: assetId } : { action: 'subscribe', site_id: siteId });
    subscribed.set(siteId, assetId);
  });
  [...subscribed.keys()].forEach((siteId) => {
    if (want.has(siteId)) return;
    send({ action: 'unsubscribe', site_id: siteId });
    subscribed.delete(siteId);
  });
}

/** Readings of `siteId` (only `assetId`'s when given) while the screen shows it. Returns a stop function. */
export function watchSite(siteId, assetId) {
  const entry = { siteId, assetId };
  watchers.add(entry);
  // batched: moving from one asset to another re-subscribes once instead of unsubscribing first
  if (!syncTimer) syncTimer = setTimeout(sync, 0);
  return () => {
    watchers.delete(entry);
    if (!syncTimer) syncTimer = setTimeout(sync, 0);
  };
}

/** 'Live' while the socket is open, else 'Polling'. */
export function useLiveStatus() {
  const [open, setOpenState] = useState(isOpen);
  useEffect(() => onStatus(setOpenState), []);
  return open;
}

// -- polling, and frames applied to what was fetched --------------------------------------------------------

/**
 * Calls `onData(data)` now and whenever `path` changes; `onError(error)` on failure. With `frames` (frame types
 * whose `onFrame` handlers keep the data current), it stops polling while the socket is open and refetches on
 * every (re)connect. `every` null: no repeat at all. Returns a stop function.
 */
export function subscribe(path, onData, onError = () => {}, { every = POLL_MS, frames = false } = {}) {
  let stopped = false;
  let timer = 0;
  let controller = null;
  let delivered = false; // the first answer is delivered even when it is a 304 of what an earlier screen saw

  async function tick() {
    clearTimeout(timer);
    if (stopped) return;
    if (document.hidden) return; // resumed by visibilitychange
    if (controller) controller.abort();
    const mine = (controller = new AbortController());
    try {
      const res = await get(path, { signal: mine.signal });
      if (!stopped && (res.changed || !delivered)) {
        delivered = true;
        onData(res.data);
      }
    } catch (e) {
      if (!stopped && e.name !== 'AbortError') onError(e);
    }
    if (stopped || controller !== mine) return;
    controller = null;
    if (every && !(frames && isOpen)) timer = setTimeout(tick, every);
  }

  function visibility() {
    if (!document.hidden) tick();
  }

  // the socket opening: one refetch (frames may have been missed), then frames only; closing: poll again
  const offStatus = frames ? onStatus(() => tick()) : () => {};
  document.addEventListener('visibilitychange', visibility);
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
    offStatus();
    document.removeEventListener('visibilitychange', visibility);
  };
}

/**
 * {data, error, loading, setData} of `path` kept live (null path: nothing). `on` maps frame types to
 * `(data, frame) => newData` (return the same data to ignore a frame); with it, polling stops while the socket
 * is open. `every`: the polling interval (null: fetch once).
 */
export function useLive(path, { every = POLL_MS, on = null } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: !!path });
  const pathRef = useRef(path);
  const onRef = useRef(on);
  onRef.current = on;
  const types = on ? Object.keys(on).sort().join(' ') : '';
  useEffect(() => {
    pathRef.current = path;
    if (!path) {
      setState({ data: null, error: null, loading: false });
      return undefined;
    }
    setState((s) => ({ ...s, loading: true, error: null }));
    const offs = types
      ? types.split(' ').map((type) =>
          onFrame(type, (frame) =>
            setState((s) => {
              if (pathRef.current !== path || s.data === null || !onRef.current || !onRef.current[type]) return s;
              const data = onRef.current[type](s.data, frame);
              return data === s.data ? s : { ...s, data };
            })
          )
        )
      : [];
    const stop = subscribe(
      path,
      (data) => pathRef.current === path && setState({ data, error: null, loading: false }),
      (error) => pathRef.current === path && setState((s) => ({ ...s, error, loading: false })),
      { every, frames: !!types }
    );
    return () => {
      stop();
      offs.forEach((off) => off());
    };
  }, [path, every, types]);
  return state;
}

/**
 * A list page `{items, …}` of alerts with an alert frame's alert applied: replaced or added when `statuses`
 * holds its status (newest raised first), removed when not; an older version than the one shown is ignored
 * (frames of one alert can arrive out of order).
 */
export function applyAlert(page, alert, statuses) {
  if (!page || !alert || !alert.id) return page;
  const items = page.items || [];
  const i = items.findIndex((a) => a.id === alert.id);
  if (i >= 0 && (items[i].version || 0) >= (alert.version || 0)) return page;
  const rest = i >= 0 ? items.filter((a) => a.id !== alert.id) : items;
  if (!statuses.includes(alert.status)) return i >= 0 ? { ...page, items: rest } : page;
  const next = [...rest, alert].sort((a, b) => String(b.raised_at).localeCompare(String(a.raised_at)));
  return { ...page, items: next };
}
