// Sign-in, sign-up, forgotten password, password reset and email verification pages.

import { auth } from './api.js';
import {
  $, h, busy, clearErrors, fieldError, focusFirstError, looksLikeEmail, passwordProblem,
  showAlert, showFormError, value,
} from './dom.js';
import { describe } from './messages.js';
import { callbackError, providerButtons } from './social.js';
import { passkeysSupported, signInWithPasskey } from './passkeys.js';
import { secondStep } from './two-factor.js';

const params = new URLSearchParams(location.search);

const NOTICES = {
  'session-ended': 'Your session has ended. Sign in again to continue.',
  'signed-out': 'You are signed out.',
  'signed-out-everywhere': 'You are signed out on every device.',
  'account-created': 'Your account is ready. Sign in to continue.',
};

/** Where to go after signing in: `?next=` when it is a path of this site, else the tasks. */
function nextPage() {
  const next = params.get('next') || '';
  const safe = /^\/(?![/\\])/.test(next) && !/[\\\s]/.test(next) && !next.startsWith('/sign-');
  return safe ? next : '/tasks';
}

function showNotice() {
  const notice = $('[data-notice]');
  const text = NOTICES[params.get('reason')];
  if (notice && text) notice.textContent = text;
}

/** Removes the arrival notice ("You are signed out."): once the person acts, it is history. */
function clearNotice() {
  const notice = $('[data-notice]');
  if (notice) notice.textContent = '';
  if (params.has('reason')) {
    params.delete('reason');
    const query = params.toString();
    history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}`);
  }
}

/** The "Continue with …" buttons under a sign-in or sign-up form, and a callback's error. */
function socialSignIn(form) {
  const box = $('[data-social]');
  if (!box) return;
  const alert = $('[data-form-error]', form);
  if (params.get('error')) {
    alert.textContent = callbackError(params.get('error'));
  }
  const count = providerButtons($('[data-social-buttons]', box), {
    callbackURL: nextPage(),
    errorCallbackURL: location.pathname,
    onError: (error) => showFormError(form, error),
  });
  box.hidden = count === 0;
}

function submitButton(form) {
  return $('button[type="submit"]', form);
}

export function signInPage() {
  showNotice();
  const form = $('[data-form="sign-in"]');
  socialSignIn(form);
  const email = form.elements.namedItem('email');
  (email.value ? form.elements.namedItem('password') : email).focus();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    clearNotice();
    const address = value(form, 'email');
    const password = value(form, 'password', { trim: false });
    if (!address) fieldError(form, 'email', 'Enter your email address.');
    else if (!looksLikeEmail(address)) fieldError(form, 'email', 'Enter a valid email address, like name@example.com.');
    if (!password) fieldError(form, 'password', 'Enter your password.');
    if ($('[aria-invalid="true"]', form)) return focusFirstError(form);
    const remember = form.elements.namedItem('rememberMe').checked;
    try {
      const result = await busy(submitButton(form), 'Signing in…', () => auth.signIn(address, password, remember));
      if (result && result.twoFactorRedirect) await secondStep(form, result.twoFactorMethods);
      location.replace(nextPage());
    } catch (error) {
      const described = showFormError(form, error);
      if (error.code === 'EMAIL_NOT_VERIFIED') offerVerificationMail(form, address, described);
    }
  });
  setupPasskeySignIn();
}

/** "Sign in with a passkey": no email or password, the browser offers the passkeys it has. */
function setupPasskeySignIn() {
  const box = $('[data-passkey-sign-in]');
  if (!box || !passkeysSupported()) return;
  box.hidden = false;
  const button = $('[data-action="passkey-sign-in"]', box);
  const alert = $('[data-passkey-error]', box);
  button.addEventListener('click', async () => {
    alert.replaceChildren();
    clearNotice();
    try {
      await busy(button, 'Waiting for your passkey…', () => signInWithPasskey());
      location.replace(nextPage());
    } catch (error) {
      showAlert(alert, error);
      alert.focus();
    }
  });
}

function offerVerificationMail(form, address, described) {
  const alert = $('[data-form-error]', form);
  const button = h('button', { type: 'button', class: 'btn btn-secondary btn-small' }, 'Send the link again');
  button.addEventListener('click', async () => {
    try {
      await busy(button, 'Sending…', () => auth.sendVerificationEmail(address));
      alert.replaceChildren(`${described.text} We sent a new link to ${address}.`);
    } catch (error) {
      alert.replaceChildren(describe(error).text);
    }
  });
  alert.append(' ', button);
}

export function signUpPage() {
  showNotice();
  const form = $('[data-form="sign-up"]');
  socialSignIn(form);
  form.elements.namedItem('name').focus();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    clearNotice();
    const name = value(form, 'name');
    const address = value(form, 'email');
    const password = value(form, 'password', { trim: false });
    if (!name) fieldError(form, 'name', 'Enter your name.');
    if (!address) fieldError(form, 'email', 'Enter your email address.');
    else if (!looksLikeEmail(address)) fieldError(form, 'email', 'Enter a valid email address, like name@example.com.');
    const problem = password ? passwordProblem(password) : 'Choose a password.';
    if (problem) fieldError(form, 'password', problem);
    if ($('[aria-invalid="true"]', form)) return focusFirstError(form);
    try {
      const result = await busy(submitButton(form), 'Creating your account…', () =>
        auth.signUp(name, address, password),
      );
      if (result && result.token) {
        location.replace(nextPage());
      } else {
        // The server requires a verified email before the first sign-in.
        form.hidden = true;
        const notice = $('[data-notice]');
        notice.textContent = `Almost done: we sent a link to ${address}. Open it to verify your address, then sign in.`;
        notice.setAttribute('tabindex', '-1');
        notice.focus();
      }
    } catch (error) {
      showFormError(form, error);
    }
  });
}

export function forgotPasswordPage() {
  const form = $('[data-form="forgot-password"]');
  form.elements.namedItem('email').focus();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const address = value(form, 'email');
    if (!looksLikeEmail(address)) {
      fieldError(form, 'email', 'Enter the email address of your account, like name@example.com.');
      return focusFirstError(form);
    }
    try {
      await busy(submitButton(form), 'Sending…', () => auth.requestPasswordReset(address));
      $('[data-sent-to]').textContent = address;
      $('[data-step="ask"]').hidden = true;
      const sent = $('[data-step="sent"]');
      sent.hidden = false;
      sent.focus();
    } catch (error) {
      showFormError(form, error);
    }
  });
}

export function resetPasswordPage() {
  const token = params.get('token');
  const show = (step) => {
    for (const element of document.querySelectorAll('[data-step]')) element.hidden = element.dataset.step !== step;
    const shown = $(`[data-step="${step}"]`);
    const heading = { done: 'Password changed', invalid: 'This link does not work' }[step];
    if (heading) {
      $('#page-title').textContent = heading;
      document.title = `${heading} · Sigil`;
    }
    if (step !== 'form') {
      shown.setAttribute('tabindex', '-1');
      shown.focus();
    }
  };
  if (!token || params.get('error')) return show('invalid');
  // The token is in the address bar; keep it out of the history and of later Referer headers.
  history.replaceState(null, '', '/reset-password');
  const form = $('[data-form="reset-password"]');
  form.elements.namedItem('newPassword').focus();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const password = value(form, 'newPassword', { trim: false });
    const again = value(form, 'confirmPassword', { trim: false });
    const problem = password ? passwordProblem(password) : 'Choose a new password.';
    if (problem) fieldError(form, 'newPassword', problem);
    else if (password !== again) fieldError(form, 'confirmPassword', 'The two passwords are not the same.');
    if ($('[aria-invalid="true"]', form)) return focusFirstError(form);
    try {
      await busy(submitButton(form), 'Saving…', () => auth.resetPassword(token, password));
      show('done');
    } catch (error) {
      if (error.code === 'INVALID_TOKEN') show('invalid');
      else showFormError(form, error, { password: 'newPassword' });
    }
  });
}

const VERIFY_FAILURES = {
  TOKEN_EXPIRED: 'This verification link has expired. Links work for one hour.',
  INVALID_TOKEN: 'This verification link is invalid, or the address it confirms has changed since.',
  USER_NOT_FOUND: 'The account of this link no longer exists.',
};

/**
 * Where a verification link lands (`callbackURL`), or a page opened directly. A link that failed
 * says why (`?error=`); otherwise the page claims nothing it has not checked: it asks the
 * session whether the address is verified, and an anonymous visitor is asked to sign in.
 */
export async function verifyEmailPage() {
  const error = params.get('error');
  const show = (step) => {
    for (const element of document.querySelectorAll('[data-step]')) element.hidden = element.dataset.step !== step;
  };
  if (error) {
    $('[data-failure]').textContent = VERIFY_FAILURES[error] || 'This verification link did not work.';
    return show('failed');
  }
  let session = null;
  try {
    session = await auth.getSession();
  } catch {
    session = null;
  }
  if (!session || !session.user) return show('signed-out');
  show(session.user.emailVerified ? 'ok' : 'unverified');
}
