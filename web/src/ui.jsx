// Pieces every screen uses: who is signed in, loading one URL, the page title, problems shown as alerts.
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { all, get } from './api.js';

export const MeContext = createContext(null);
export const useMe = () => useContext(MeContext);

export function useTitle(title) {
  useEffect(() => {
    document.title = title ? `${title} · dCMMS` : 'dCMMS';
  }, [title]);
}

/** {data, etag, error, loading, reload, setData} of one GET (null path: nothing). */
export function useApi(path) {
  const [state, setState] = useState({ data: null, etag: null, error: null, loading: !!path });
  const [round, setRound] = useState(0);
  const pathRef = useRef(path);
  useEffect(() => {
    pathRef.current = path;
    if (!path) {
      setState({ data: null, etag: null, error: null, loading: false });
      return undefined;
    }
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    get(path, { signal: controller.signal }).then(
      (res) => pathRef.current === path && setState({ data: res.data, etag: res.etag, error: null, loading: false }),
      (error) => error.name !== 'AbortError' && pathRef.current === path && setState((s) => ({ ...s, error, loading: false }))
    );
    return () => controller.abort();
  }, [path, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  const setData = useCallback((data, etag) => setState((s) => ({ ...s, data, etag: etag === undefined ? s.etag : etag })), []);
  return { ...state, reload, setData };
}

let sitesPromise = null;

/** The tenant's sites, loaded once per session: Map id -> site (null while loading). */
let peoplePromise = null;

/** The tenant's people who sign in (GET /api/v1/people), by id: assignment pickers and names in histories. */
export function usePeople() {
  const [people, setPeople] = useState(null);
  useEffect(() => {
    if (!peoplePromise) {
      peoplePromise = all('/api/v1/people').catch((e) => {
        peoplePromise = null;
        throw e;
      });
    }
    let live = true;
    peoplePromise.then(
      (items) => live && setPeople(new Map(items.map((p) => [p.id, p]))),
      () => live && setPeople(new Map())
    );
    return () => {
      live = false;
    };
  }, []);
  return people;
}

/** A person's name (else their id) for an assignee or a history entry. */
export function personName(people, id) {
  if (!id) return '';
  const person = people && people.get(id);
  return person ? person.name : id;
}

export function useSites() {
  const [sites, setSites] = useState(null);
  useEffect(() => {
    if (!sitesPromise) {
      sitesPromise = all('/api/v1/sites').catch((e) => {
        sitesPromise = null;
        throw e;
      });
    }
    let live = true;
    sitesPromise.then(
      (items) => live && setSites(new Map(items.map((s) => [s.id, s]))),
      () => live && setSites(new Map())
    );
    return () => {
      live = false;
    };
  }, []);
  return sites;
}

export function forgetSites() {
  sitesPromise = null;
}

export function Problem({ error, children }) {
  if (!error) return null;
  const text = error.status === 404 ? 'Not found: it may have been deleted, or it belongs to another organisation.' : error.message;
  return (
    <div role="alert" class="problem">
      <p>{text}</p>
      {children}
    </div>
  );
}

export function Loading({ label = 'Loading…', class: cls = '' }) {
  return (
    <p class={`loading ${cls}`} aria-live="polite">
      {label}
    </p>
  );
}

/** A table that scrolls sideways on a narrow screen; keyboard users can scroll it too. */
export function TableWrap({ label, children }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabindex="0">
      {children}
    </div>
  );
}
