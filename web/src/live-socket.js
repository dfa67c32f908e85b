// The live socket (docs/live.md), a chunk of its own: live.js loads it on the first startLive(), after sign-in.
//
// `/config.json`'s `live` URL, else ws(s)://<the API's origin>/ws, with `?token=<ID token>` (a fresh one on every
// connect); reconnects with exponential backoff and jitter (1 s, 2 s, 4 s … 30 s); a ping every 5 minutes keeps
// API Gateway's 10-minute idle timeout away; a site screen subscribes to its site, narrowed to the asset it shows
// (live.js's watchers). Frames go to live.js's dispatch; they are hints: every (re)connect refetches what is on
// screen (live.js's subscriptions follow the open/closed status).
import { idToken, loadConfig } from './auth.js';
import { dispatch, live, setOpen, socketHooks, watchers } from './live.js';

const PING_MS = 5 * 60 * 1000;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;

let socket = null; // the WebSocket, connecting or open
let wanted = false; // someone is signed in: keep a socket
let attempt = 0; // failed connects since the last open
let retryTimer = 0;
let pingTimer = 0;
let syncTimer = 0;
const subscribed = new Map(); // site id -> asset id (or null) as subscribed on this socket

/** The socket's URL without the token: the configured one, else /ws at the API's origin. */
export function socketUrl(config) {
  if (config && config.live) return config.live;
  const base = new URL((config && config.api) || '/', window.location.href);
  return `${base.protocol === 'https:' ? 'wss:' : 'ws:'}//${base.host}/ws`;
}

function send(frame) {
  if (socket && live()) socket.send(JSON.stringify(frame));
}

/** Opens the socket; idempotent. */
export function start() {
  wanted = true;
  if (!socket && !retryTimer) connect();
}

/** Closes it for good (sign-out). */
export function stop() {
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
    dispatch(frame);
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
  if (!live()) return;
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

// batched: moving from one asset to another re-subscribes once instead of unsubscribing first
socketHooks.watchersChanged = () => {
  if (!syncTimer) syncTimer = setTimeout(sync, 0);
};
