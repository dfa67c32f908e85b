// The session with Cognito's JSON API, straight from the browser (no SDK): REFRESH_TOKEN_AUTH before the ID token
// expires; signing in (USER_PASSWORD_AUTH, the NEW_PASSWORD_REQUIRED challenge) is sign-in.js, in the form's chunk.
// Tokens live in memory and sessionStorage (this tab only, gone when it closes); signing out clears both.

const KEY = 'dcmms.session';
const REFRESH_EARLY_S = 120; // refresh this long before the ID token expires
const listeners = new Set();

let config = null;
let configPromise = null;
let session = read();
let refreshing = null;
let timer = 0;

function read() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    return stored && stored.idToken && stored.refreshToken ? stored : null;
  } catch {
    return null;
  }
}

function write(next) {
  session = next;
  try {
    if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
    else sessionStorage.removeItem(KEY);
  } catch {
    // storage refused (private mode): the session lives in memory only
  }
  schedule();
  listeners.forEach((fn) => fn(session));
}

/** The app's configuration (`GET /config.json`), fetched once. */
export function loadConfig() {
  if (config) return Promise.resolve(config);
  if (!configPromise) {
    configPromise = fetch('/config.json', { credentials: 'same-origin' })
      .then((r) => {
        if (!r.ok) throw new Error(`config.json: ${r.status}`);
        return r.json();
      })
      .then((c) => (config = c))
      .catch((e) => {
        configPromise = null;
        throw e;
      });
  }
  return configPromise;
}

export function apiBase() {
  return (config && config.api) || '';
}

export class AuthError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

const FRIENDLY = {
  NotAuthorizedException: 'Incorrect email or password.',
  UserNotFoundException: 'Incorrect email or password.',
  PasswordResetRequiredException: 'Your password must be reset by an administrator.',
  UserNotConfirmedException: 'Your account is not confirmed yet.',
  TooManyRequestsException: 'Too many attempts. Wait a moment and try again.',
};

/** One call of Cognito's JSON API; throws AuthError with a message fit to show. */
export async function cognito(action, body) {
  const c = await loadConfig();
  let res;
  try {
    res = await fetch(c.cognito.endpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new AuthError('NetworkError', 'The sign-in service cannot be reached. Check your connection and try again.');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const type = String(data.__type || data.code || 'Error').split('#').pop();
    const message = (type === 'InvalidPasswordException' && data.message) || FRIENDLY[type] || data.message || 'Sign-in failed.';
    throw new AuthError(type, message);
  }
  return data;
}

function claims(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part), (ch) => ch.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

/** Keeps the tokens of an AuthenticationResult (the email from the ID token, else `email`). */
export function store(result, email, refreshToken) {
  const c = claims(result.IdToken);
  const exp = c.exp ? c.exp * 1000 : Date.now() + (result.ExpiresIn || 3600) * 1000;
  write({
    idToken: result.IdToken,
    accessToken: result.AccessToken,
    refreshToken: result.RefreshToken || refreshToken,
    exp,
    email: c.email || email,
  });
}

function schedule() {
  clearTimeout(timer);
  if (!session) return;
  const wait = Math.max(session.exp - REFRESH_EARLY_S * 1000 - Date.now(), 5000);
  timer = setTimeout(() => refresh().catch(() => {}), Math.min(wait, 2 ** 31 - 1));
}

/** New ID and access tokens from the refresh token (one request at a time); null when that fails. */
export function refresh() {
  if (!session) return Promise.resolve(null);
  if (!refreshing) {
    const held = session;
    refreshing = loadConfig()
      .then((c) =>
        cognito('InitiateAuth', {
          AuthFlow: 'REFRESH_TOKEN_AUTH',
          ClientId: c.cognito.client_id,
          AuthParameters: { REFRESH_TOKEN: held.refreshToken },
        })
      )
      .then((reply) => {
        if (session !== held) return session; // signed out or in again meanwhile
        store(reply.AuthenticationResult, held.email, held.refreshToken);
        return session;
      })
      .catch((e) => {
        if (e instanceof AuthError && e.type !== 'NetworkError' && session === held) write(null);
        return session;
      })
      .finally(() => (refreshing = null));
  }
  return refreshing;
}

/** A valid ID token for the API (refreshed first if it is about to expire), or null when signed out. */
export async function idToken() {
  if (session && session.exp - Date.now() < 30000) await refresh();
  return session ? session.idToken : null;
}

export function current() {
  return session;
}

export function signOut() {
  write(null);
}

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Starts the refresh timer of a session read from sessionStorage (app.jsx's prepare(), as the app boots); a stale
 * timer after sleep is caught by idToken(). Another tab of the same origin does not share sessionStorage.
 */
export function start() {
  schedule();
}
