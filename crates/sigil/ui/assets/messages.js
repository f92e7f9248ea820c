// What to tell a person about each error the identity service or the tasks API can answer:
// a sentence, and the form field it belongs to when there is one.

import { ApiError, SessionGone } from './api.js';

const FIELD_TEXT = {
  email: 'Enter a valid email address, like name@example.com.',
  name: 'Enter your name.',
  password: 'Enter your password.',
  currentPassword: 'Enter your current password.',
  newPassword: 'Enter a new password.',
  title: 'Give the task a title (up to 200 characters).',
  description: 'Keep the notes under 1000 characters.',
};

const TRY_AGAIN_LATER = 'Something went wrong on our side. Try again in a moment.';
const SIGN_IN_AGAIN = 'Your session has ended. Sign in again to continue.';

function sentence(text) {
  const t = text.trim();
  if (!t) return t;
  const first = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** `[body.email] Invalid email address` (identity) or `title must be …` (tasks). */
function describeValidation(message) {
  const bracketed = /^\[(?:body|query)\.([A-Za-z]+)\]\s*(.*)$/.exec((message || '').split(';')[0].trim());
  if (bracketed) {
    const field = bracketed[1];
    return { field, text: FIELD_TEXT[field] || sentence(bracketed[2]) };
  }
  const word = /^(title|description)\b/.exec(message || '');
  if (word) {
    const field = word[1];
    return { field, text: field === 'description' ? FIELD_TEXT.description : sentence(message) };
  }
  return { text: message ? sentence(message) : 'Check what you entered and try again.' };
}

/**
 * `{field?, text, link?: {href, text}}` for an error thrown by `api.js`.
 * `field` is the API's field name (`email`, `password`, `title`, …).
 */
export function describe(error) {
  if (error instanceof SessionGone) return { text: SIGN_IN_AGAIN };
  if (!(error instanceof ApiError)) {
    console.error(error);
    return { text: 'Something went wrong in this page. Reload it and try again.' };
  }
  switch (error.code) {
    case 'NETWORK_ERROR':
      return { text: 'Sigil cannot be reached. Check your connection and try again.' };
    case 'INVALID_EMAIL_OR_PASSWORD':
      return { text: 'The email or the password is not right. Check both and try again.' };
    case 'USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL':
    case 'USER_ALREADY_EXISTS':
      return {
        field: 'email',
        text: 'An account with this email already exists.',
        link: { href: '/sign-in', text: 'Sign in instead' },
      };
    case 'PASSWORD_TOO_SHORT':
      return { field: 'password', text: 'The password is too short: use at least 8 characters.' };
    case 'PASSWORD_TOO_LONG':
      return { field: 'password', text: 'The password is too long: use at most 128 characters.' };
    case 'INVALID_EMAIL':
      return { field: 'email', text: FIELD_TEXT.email };
    case 'INVALID_PASSWORD':
      return { field: 'currentPassword', text: 'Your current password is not right.' };
    case 'FAILED_TO_UNLINK_LAST_ACCOUNT':
      return { text: 'This is your last way to sign in, so it cannot be unlinked. Link another first.' };
    case 'PROVIDER_UNAVAILABLE':
      return { text: 'The sign-in provider did not answer. Try again in a moment.' };
    case 'SERVICE_BUSY':
      return { text: 'Sigil is very busy right now. Try again in a moment.' };
    case 'TOO_MANY_REQUESTS': {
      const secs = error.retryAfter;
      const minutes = secs ? Math.ceil(secs / 60) : 0;
      const wait = !secs ? 'Wait a little'
        : secs < 120 ? `Wait ${secs} second${secs === 1 ? '' : 's'}`
        : `Wait ${minutes} minutes`;
      // Long waits come from the per-account throttle: a password reset lets this device in.
      const reset = secs >= 60 ? ' Or reset your password: the emailed link lets this device in.' : '';
      return { text: `Too many attempts. ${wait}, then try again.${reset}` };
    }
    case 'UNAUTHORIZED':
      return { text: SIGN_IN_AGAIN, link: { href: '/sign-in', text: 'Sign in' } };
    case 'SESSION_NOT_FRESH':
    case 'SESSION_EXPIRED':
      return { text: 'For your security, this needs a recent sign-in. Sign out, sign in again, then retry.' };
    case 'EMAIL_NOT_VERIFIED':
      return { text: 'Verify your email address first: open the link we emailed you.' };
    case 'EMAIL_ALREADY_VERIFIED':
      return { text: 'Your email address is already verified.' };
    case 'INVALID_TOKEN':
    case 'TOKEN_EXPIRED':
      return { text: 'This link is invalid or has expired.' };
    case 'INVALID_ORIGIN':
    case 'MISSING_OR_NULL_ORIGIN':
      return { text: 'Sigil refused this request because it did not come from one of its own pages. Reload the page and try again.' };
    case 'PASSKEY_NOT_FOUND':
      return { text: 'This passkey is not registered with Sigil any more (it may have been deleted). Sign in with your password.' };
    case 'AUTHENTICATION_FAILED':
      return { text: 'The passkey could not be verified. Try again, or sign in with your password.' };
    case 'FAILED_TO_VERIFY_REGISTRATION':
      return { text: 'The passkey could not be added. Try again.' };
    case 'CHALLENGE_NOT_FOUND':
      return { text: 'The passkey request expired. Try again.' };
    case 'PASSKEYS_UNAVAILABLE':
      return { text: 'Passkeys are off on this server: open it by a name such as localhost, not an IP address.' };
    case 'TOO_MANY_PASSKEYS':
      return { text: 'Your account has the most passkeys it can hold. Delete one first.' };
    case 'PASSKEY_CANCELLED':
    case 'PASSKEY_ALREADY_REGISTERED':
    case 'PASSKEY_FAILED':
      return { text: sentence(error.message) };
    case 'INVALID_CODE':
      return { field: 'code', text: 'That code is not right, or was already used. Enter the current code.' };
    case 'INVALID_BACKUP_CODE':
      return { field: 'code', text: 'That backup code is not right, or was already used.' };
    case 'OTP_HAS_EXPIRED':
      return { field: 'code', text: 'That emailed code has expired or was not sent. Send a new one.' };
    case 'TOTP_NOT_ENABLED':
      return { text: 'No authenticator app is set up for this account. Use a code by email or a backup code.' };
    case 'INVALID_TWO_FACTOR_COOKIE':
    case 'TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE':
      return { text: 'This sign-in has expired or had too many wrong codes. Sign in again.', link: { href: '/sign-in', text: 'Sign in again' } };
    case 'ACCOUNT_TEMPORARILY_LOCKED': {
      const secs = error.retryAfter;
      return { text: `Too many wrong codes. Wait ${secs ? `${secs} second${secs === 1 ? '' : 's'}` : 'a little'}, then try again.` };
    }
    case 'VALIDATION_ERROR':
      return describeValidation(error.message);
    case 'NO_FIELDS_TO_UPDATE':
      return { text: 'Nothing to save: nothing changed.' };
    case 'TASK_NOT_FOUND':
      return { text: 'This task no longer exists. It may have been deleted in another window.' };
    case 'FORBIDDEN':
      return { text: 'These tasks belong to another account.' };
    case 'PAYLOAD_TOO_LARGE':
      return { text: 'That is too long to save.' };
    case 'TOKEN_REFUSED':
      return { text: 'The tasks API did not accept your sign-in: its token settings do not match this server. Tell whoever runs Sigil.' };
    case 'NOT_FOUND':
      return { text: 'The tasks API was not found at its configured address. Tell whoever runs Sigil.' };
    default:
      if (error.status >= 500) return { text: TRY_AGAIN_LATER };
      return { text: error.message ? sentence(error.message) : TRY_AGAIN_LATER };
  }
}
