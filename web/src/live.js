// Live data for the screens (docs/live.md): one WebSocket per tab once someone is signed in (live-socket.js,
// loaded by the first startLive()), and conditional polling as the fallback.
//
// The socket's frames reach the screens through onFrame / useLive's `on`; its open/closed status through
// onStatus / useLiveStatus; a site screen's wish for its site's readings through watchSite.
//
// Polling: `subscribe(path, …)` GETs its URL every 5 s with If-None-Match (304 when nothing changed), paused
// while the tab is hidden. A subscription that says which frames carry its changes (`frames`) stops polling
// while the socket is open and applies those frames instead; one that names none (a report's progress) polls
// regardless.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from './api.js';

export const POLL_MS = 5000;

let isOpen = false;
const statusListeners = new Set();
const frameListeners = new Map(); // frame type -> Set of fn(frame)
export const watchers = new Set(); // {siteId, assetId}: what the screens want
export const socketHooks = { watchersChanged() {} }; // set by live-socket.js once loaded

// The socket itself (connect, reconnect, ping, site subscriptions) is live-socket.js, a chunk of its own fetched
// by the first startLive(): after sign-in, never before a screen's first paint.
let socketModule = null;
let wanted = false;

/** Whether frames are arriving (the socket is open); polling is the fallback otherwise. */
export const live = () => isOpen;

/** For live-socket.js: the socket opened or closed. */
export function setOpen(value) {
  if (isOpen === value) return;
  isOpen = value;
  statusListeners.forEach((fn) => fn(value));
}

/** For live-socket.js: a frame arrived. */
export function dispatch(frame) {
  const fns = frameListeners.get(frame.type);
  if (fns) fns.forEach((fn) => fn(frame));
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

/** Opens the socket (after sign-in); idempotent. */
export function startLive() {
  wanted = true;
  if (!socketModule) {
    socketModule = import('./live-socket.js');
    socketModule.catch(() => (socketModule = null)); // polling carries on; the next startLive tries again
  }
  socketModule.then((m) => wanted && m.start(), () => {});
}

/** Closes it for good (sign-out). */
export function stopLive() {
  wanted = false;
  if (socketModule) socketModule.then((m) => m.stop(), () => {});
  setOpen(false);
}

/** Readings of `siteId` (only `assetId`'s when given) while the screen shows it. Returns a stop function. */
export function watchSite(siteId, assetId) {
  const entry = { siteId, assetId };
  watchers.add(entry);
  socketHooks.watchersChanged();
  return () => {
    watchers.delete(entry);
    socketHooks.watchersChanged();
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
