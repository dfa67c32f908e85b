// Live data for the screens. For now each subscription polls its URL every 5 s with If-None-Match (the
// API answers 304 when nothing changed), pausing while the tab is hidden; a later WebSocket transport can
// replace `subscribe` without the screens changing.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from './api.js';

export const POLL_MS = 5000;

/** Calls `onData(data)` now and whenever `path` changes; `onError(error)` on failure. Returns a stop function. */
export function subscribe(path, onData, onError = () => {}, every = POLL_MS) {
  let stopped = false;
  let timer = 0;
  let controller = null;
  let delivered = false; // the first answer is delivered even when it is a 304 of what an earlier screen saw

  async function tick() {
    clearTimeout(timer);
    if (stopped) return;
    if (document.hidden) return; // resumed by visibilitychange
    controller = new AbortController();
    try {
      const res = await get(path, { signal: controller.signal });
      if (!stopped && (res.changed || !delivered)) {
        delivered = true;
        onData(res.data);
      }
    } catch (e) {
      if (!stopped && e.name !== 'AbortError') onError(e);
    }
    if (!stopped) timer = setTimeout(tick, every);
  }

  function visibility() {
    if (!document.hidden) tick();
  }

  document.addEventListener('visibilitychange', visibility);
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
    document.removeEventListener('visibilitychange', visibility);
  };
}

/** {data, error, loading} of `path` kept live (null path: nothing). */
export function useLive(path, every = POLL_MS) {
  const [state, setState] = useState({ data: null, error: null, loading: !!path });
  const pathRef = useRef(path);
  useEffect(() => {
    pathRef.current = path;
    if (!path) {
      setState({ data: null, error: null, loading: false });
      return undefined;
    }
    setState((s) => ({ ...s, loading: true, error: null }));
    return subscribe(
      path,
      (data) => pathRef.current === path && setState({ data, error: null, loading: false }),
      (error) => pathRef.current === path && setState((s) => ({ ...s, error, loading: false })),
      every
    );
  }, [path, every]);
  return state;
}
