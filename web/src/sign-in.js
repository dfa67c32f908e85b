// Signing in with Cognito's JSON API: USER_PASSWORD_AUTH and the NEW_PASSWORD_REQUIRED challenge. Only the sign-in
// form needs these, so they travel in its chunk; auth.js keeps the session and its refresh.
import { AuthError, cognito, loadConfig, store } from './auth.js';

/**
 * Signs in: `{done: true}`, or `{challenge: 'NEW_PASSWORD_REQUIRED', ...}` for completeNewPassword.
 * Throws AuthError with a message fit to show.
 */
export async function signIn(email, password) {
  const c = await loadConfig();
  const reply = await cognito('InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: c.cognito.client_id,
    AuthParameters: { USERNAME: email, PASSWORD: password },
  });
  if (reply.AuthenticationResult) {
    store(reply.AuthenticationResult, email);
    return { done: true };
  }
  if (reply.ChallengeName === 'NEW_PASSWORD_REQUIRED') {
    const params = reply.ChallengeParameters || {};
    return { challenge: reply.ChallengeName, session: reply.Session, username: params.USER_ID_FOR_SRP || email, email };
  }
  throw new AuthError(reply.ChallengeName || 'Unsupported', `This sign-in step is not supported here (${reply.ChallengeName}).`);
}

export async function completeNewPassword(pending, newPassword) {
  const c = await loadConfig();
  const reply = await cognito('RespondToAuthChallenge', {
    ChallengeName: 'NEW_PASSWORD_REQUIRED',
    ClientId: c.cognito.client_id,
    Session: pending.session,
    ChallengeResponses: { USERNAME: pending.username, NEW_PASSWORD: newPassword },
  });
  if (!reply.AuthenticationResult) {
    throw new AuthError(reply.ChallengeName || 'Unsupported', 'A further sign-in step is required that this app does not support.');
  }
  store(reply.AuthenticationResult, pending.email);
  return { done: true };
}
