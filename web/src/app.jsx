// The shell: who is signed in, the header, the current screen (loaded on demand) and the error boundary.
import { Component } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { forget, get, onUnauthorized } from './api.js';
import * as auth from './auth.js';
import { applyAlert, startLive, stopLive, useLive, useLiveStatus } from './live.js';
import { location, navigate, subscribe, useLocation } from './router.js';
import { resolve } from './routes.js';
import { forgetSites, MeContext, useTitle } from './ui.jsx';

const loaded = new Map(); // route -> its module

export function signInUrl(next) {
  return next && next !== '/' && !next.startsWith('/sign-in') ? `/sign-in?next=${encodeURIComponent(next)}` : '/sign-in';
}

function signOut() {
  navigate('/sign-in');
  stopLive();
  auth.signOut();
  forget();
  forgetSites();
}

// A 401 from the API: the session is over; the screen asked for is kept for after signing in again.
onUnauthorized(() => auth.signOut());

let meAhead = null; // {key: the session's refresh token, promise}: GET /api/v1/me as prepare() started it

function fetchMe(key) {
  const ahead = meAhead;
  meAhead = null;
  return ahead && ahead.key === key ? ahead.promise : get('/api/v1/me');
}

/** Whether the first screen is the sign-in form: nobody signed in in this tab, or at /sign-in. */
export function signInFirst() {
  return !auth.current() || resolve(location().pathname).route.path === '/sign-in';
}

/**
 * Before the first render (main.jsx): signed out on a screen that needs a person, straight to the sign-in form
 * (keeping the deep link); who is signed in; the first screen's chunk, so that the first render shows that
 * screen, not a placeholder. Never rejects: a chunk that fails is the Outlet's to say.
 */
export function prepare() {
  auth.start();
  auth.loadConfig().catch(() => {}); // early, for the sign-in form, the token refresh and the live socket
  const session = auth.current();
  if (session) {
    // who is signed in, asked for beside the chunk: the header's role and a screen's role-bound controls are in
    // place before the screen's own data, which it asks for once rendered
    const promise = get('/api/v1/me');
    promise.catch(() => {});
    meAhead = { key: session.refreshToken, promise };
  } else if (!resolve(location().pathname).route.public) {
    navigate(signInUrl(location().href), { replace: true });
  }
  const { route } = resolve(location().pathname);
  if (route.notFound || loaded.has(route)) return Promise.resolve();
  return route.load().then(
    (mod) => {
      loaded.set(route, mod);
    },
    () => {}
  );
}

export function App() {
  const loc = useLocation();
  const [session, setSession] = useState(auth.current());
  const [me, setMe] = useState(null);
  const { route, params } = resolve(loc.pathname);
  const signedIn = !!session;
  const sessionKey = session ? session.refreshToken : null;

  useEffect(() => auth.onChange(setSession), []);

  // one WebSocket per tab while someone is signed in (live.js)
  useEffect(() => {
    if (sessionKey) startLive();
    else stopLive();
  }, [sessionKey]);

  useEffect(() => {
    if (!sessionKey) {
      setMe(null);
      return;
    }
    let live = true;
    fetchMe(sessionKey).then(
      (res) => live && setMe(res.data),
      () => {}
    );
    return () => {
      live = false;
    };
  }, [sessionKey]);

  // signed-out on a screen that needs a person: to the sign-in form, keeping the deep link
  useEffect(() => {
    if (!signedIn && !route.public) navigate(signInUrl(location().href), { replace: true });
  }, [signedIn, route]);

  if (!signedIn && !route.public) return <div class="page-loading" />;

  if (route.public) {
    return (
      <main id="main" class="public" tabindex="-1">
        <Outlet route={route} params={params} loc={loc} me={me} />
      </main>
    );
  }
  return (
    <MeContext.Provider value={me}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header me={me} loc={loc} email={session.email} />
      <main id="main" tabindex="-1">
        <ErrorBoundary key={loc.pathname}>
          <Outlet route={route} params={params} loc={loc} me={me} />
        </ErrorBoundary>
      </main>
    </MeContext.Provider>
  );
}

const SECTIONS = [
  ['/work-orders', /^\/work-orders(\/|$)/],
  ['/alerts', /^\/alerts(\/|$)/],
  ['/pm', /^\/pm(\/|$)/],
  ['/reports', /^\/reports(\/|$)/],
  ['/admin/users', /^\/admin(\/|$)/],
  ['/', /^\/(sites\/.*)?$/],
];

// the count beside "Alerts": the inbox's default view (open = active and acknowledged, as the fleet counts them)
const OPEN = ['active', 'acknowledged'];
const OPEN_ALERTS = '/api/v1/alerts?status=active&status=acknowledged&limit=1000';
const onAlert = { alert: (page, frame) => applyAlert(page, frame.alert, OPEN) };

function Header({ me, loc, email }) {
  const [q, setQ] = useState(loc.pathname === '/search' ? loc.query.get('q') || '' : '');
  useEffect(() => {
    if (loc.pathname === '/search') setQ(loc.query.get('q') || '');
  }, [loc.href]);
  const found = SECTIONS.find(([, re]) => re.test(loc.pathname));
  const section = found ? found[0] : '';
  const link = (href, text, extra) => (
    <a href={href} aria-current={section === href ? 'page' : undefined} {...extra}>
      {text}
    </a>
  );
  // the open alerts, kept by alert frames while the socket is open (polled otherwise)
  const active = useLive(me ? OPEN_ALERTS : null, { on: onAlert });
  const count = active.data ? active.data.items.length : null;
  const more = active.data && active.data.next_cursor ? '+' : '';
  const isLive = useLiveStatus();
  return (
    <header class="top">
      <a class="brand" href="/">
        dCMMS
      </a>
      <nav aria-label="Main">
        {link('/', 'Fleet')}
        {link('/work-orders', 'Work orders')}
        <span class="nav-item">
          {link('/alerts', 'Alerts', count ? { 'aria-describedby': 'alert-count' } : undefined)}
          {count ? (
            <span id="alert-count" class="count">
              {count}
              {more}
              <span class="visually-hidden"> open</span>
            </span>
          ) : null}
        </span>
        {link('/pm', 'Maintenance')}
        {link('/reports', 'Reports')}
        {me && me.role === 'admin' && link('/admin/users', 'Admin')}
      </nav>
      <form
        role="search"
        class="search"
        onSubmit={(e) => {
          e.preventDefault();
          const term = q.trim();
          if (term) navigate(`/search?q=${encodeURIComponent(term)}`);
        }}
      >
        <input type="search" aria-label="Search" placeholder="Search…" value={q} onInput={(e) => setQ(e.currentTarget.value)} enterkeyhint="search" />
      </form>
      <div class="who">
        <span role="status" class={`live-status ${isLive ? 'on' : 'off'}`} title={isLive ? 'Updates arrive as they happen' : 'Updates are fetched every 5 seconds'}>
          {isLive ? 'Live' : 'Polling'}
        </span>
        <span class="email" title={(me && me.email) || email}>
          {(me && me.email) || email}
        </span>
        <span class="role">{me ? me.role : '…'}</span>
        <button type="button" class="link-button" onClick={signOut}>
          Sign out
        </button>
      </div>
    </header>
  );
}

/** The current screen. While the next one's chunk loads, the previous one stays (no blank flash). */
function Outlet({ route, params, loc, me }) {
  const [, setTick] = useState(0);
  const [failed, setFailed] = useState(null);
  const last = useRef(null);
  const pendingFocus = useRef(false);

  useEffect(() => {
    setFailed(null);
    if (route.notFound || loaded.has(route)) return;
    let live = true;
    route.load().then(
      (mod) => {
        loaded.set(route, mod);
        if (live) setTick((t) => t + 1);
      },
      (error) => live && setFailed(error)
    );
    return () => {
      live = false;
    };
  }, [route]);

  // after moving to another screen, focus its heading once it shows (screen readers announce it; Tab
  // starts from there); a rewritten query (a filter) keeps the focus where it is
  useEffect(
    () =>
      subscribe((_, kind) => {
        if (kind !== 'replace') pendingFocus.current = true;
      }),
    []
  );
  useEffect(() => {
    if (!pendingFocus.current || !(route.notFound || loaded.has(route))) return;
    pendingFocus.current = false;
    requestAnimationFrame(() => {
      const h = document.querySelector('main h1');
      if (h) h.focus({ preventScroll: true });
    });
  });

  if (failed) {
    return (
      <div role="alert" class="problem">
        <p>This screen could not be loaded (the app may have been updated).</p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload
        </button>
      </div>
    );
  }
  if (route.notFound) return <NotFound />;
  const mod = loaded.get(route);
  if (!mod) return last.current || <div class="page-loading" aria-busy="true" />;
  const Page = mod.default;
  const page = <Page key={route.path + JSON.stringify(params)} params={params} query={loc.query} loc={loc} me={me} />;
  last.current = page;
  return page;
}

function NotFound() {
  useTitle('Page not found');
  return (
    <>
      <h1 tabindex="-1">Page not found</h1>
      <p>There is nothing at this address.</p>
      <p>
        <a href="/">Go to the fleet</a>
      </p>
    </>
  );
}

class ErrorBoundary extends Component {
  constructor() {
    super();
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  componentDidCatch(error) {
    console.error(error); // eslint-disable-line no-console
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div role="alert" class="problem">
        <h1 tabindex="-1">Something went wrong</h1>
        <p>{String(this.state.error.message || this.state.error)}</p>
        <button type="button" onClick={() => window.location.reload()}>
          Reload
        </button>
      </div>
    );
  }
}
