// Sigil's web UI: runs the page named by <body data-page="…">. No framework, no build step.

import { auth, SessionGone } from './api.js';
import { $, setupPasswordReveal, showAlert } from './dom.js';
import { signInPage, signUpPage, forgotPasswordPage, resetPasswordPage, verifyEmailPage } from './auth-pages.js';
import { tasksPage, taskPage } from './tasks.js';
import { accountPage } from './account.js';

const PAGES = {
  'sign-in': signInPage,
  'sign-up': signUpPage,
  'forgot-password': forgotPasswordPage,
  'reset-password': resetPasswordPage,
  'verify-email': verifyEmailPage,
  tasks: tasksPage,
  task: taskPage,
  account: accountPage,
};

function setupTopBar() {
  const button = $('[data-action="sign-out"]');
  if (!button) return;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await auth.signOut();
    } catch {
      // Signed out or not, leave: the sign-in page shows the real state.
    }
    location.replace('/sign-in?reason=signed-out');
  });
}

// A session that ended while a call was under way has already sent the page to sign-in.
window.addEventListener('unhandledrejection', (event) => {
  if (event.reason instanceof SessionGone) event.preventDefault();
});

setupPasswordReveal();
setupTopBar();
const run = PAGES[document.body.dataset.page];
if (run) {
  Promise.resolve()
    .then(run)
    .catch((error) => {
      if (error instanceof SessionGone) return;
      const alert = $('[data-page-error], [data-list-error], [data-form-error]');
      if (alert) showAlert(alert, error);
    });
}
