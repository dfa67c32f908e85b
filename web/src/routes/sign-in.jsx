import { useEffect, useRef, useState } from 'preact/hooks';
import * as auth from '../auth.js';
import { completeNewPassword, signIn } from '../sign-in.js';
import { navigate } from '../router.js';
import { useTitle } from '../ui.jsx';

/** Where to go after signing in: the deep link that was asked for (same-origin app paths only), else `/`. */
function nextUrl(query) {
  const next = query.get('next') || '/';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/sign-in') ? next : '/';
}

export default function SignIn({ query }) {
  useTitle('Sign in');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [newPassword, setNewPassword] = useState('');
  const [pending, setPending] = useState(null); // the NEW_PASSWORD_REQUIRED challenge
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const newRef = useRef(null);

  useEffect(() => {
    if (auth.current()) navigate(nextUrl(query), { replace: true });
  }, []);
  useEffect(() => {
    if (pending && newRef.current) newRef.current.focus();
  }, [pending]);

  async function submit(event) {
    event.preventDefault();
    if (busy) return;
    setError('');
    if (!pending && (!email.trim() || !password)) {
      setError('Enter your email and password.');
      return;
    }
    if (pending && !newPassword) {
      setError('Enter a new password.');
      return;
    }
    setBusy(true);
    try {
      const result = pending ? await completeNewPassword(pending, newPassword) : await signIn(email.trim(), password);
      if (result.challenge) {
        setPending(result);
        setPassword('');
      } else {
        navigate(nextUrl(query), { replace: true });
      }
    } catch (e) {
      setError(e.message || 'Sign-in failed.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="sign-in">
      <h1 tabindex="-1">Sign in to dCMMS</h1>
      <form onSubmit={submit} noValidate>
        {pending ? (
          <>
            <p>
              Choose a new password for <strong>{pending.email}</strong> to finish signing in.
            </p>
            <div class="field">
              <label for="new-password">New password</label>
              <input
                id="new-password"
                ref={newRef}
                type="password"
                autocomplete="new-password"
                value={newPassword}
                onInput={(e) => setNewPassword(e.currentTarget.value)}
                aria-describedby="new-password-hint"
              />
              <p id="new-password-hint" class="hint">
                At least 12 characters, with upper- and lower-case letters and a number.
              </p>
            </div>
          </>
        ) : (
          <>
            <div class="field">
              <label for="email">Email</label>
              <input id="email" type="email" autocomplete="username" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="password">Password</label>
              <input
                id="password"
                type="password"
                autocomplete="current-password"
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </div>
          </>
        )}
        {error && (
          <p role="alert" class="problem">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {pending ? 'Set password' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
