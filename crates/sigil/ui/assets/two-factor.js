// Two-factor authentication: the second step of signing in (authenticator app, emailed code,
// backup code, or a passkey of the account when the server lists "passkey") and the account page's set-up (QR code drawn here from modules this server
// computed), backup codes (shown once) and turning it off.

import { auth, qrCode } from './api.js';
import { $, h, busy, clearErrors, fieldError, focusFirstError, showFormError, value } from './dom.js';
import { passkeysSupported, signInWithPasskey } from './passkeys.js';

const HELP = {
  totp: 'Enter the 6-digit code from your authenticator app.',
  otp: 'We email you a 6-digit code. It works once, for 3 minutes.',
  backup: 'Enter one of your backup codes (like abcde-12345). Each works once.',
};

/**
 * Shows the second step of signing in in place of the password form, and resolves once a
 * factor was accepted (the session cookie is then set).
 */
export function secondStep(passwordForm, methods) {
  const form = $('[data-form="two-factor"]');
  passwordForm.hidden = true;
  form.hidden = false;
  // The page's own "Sign in with a passkey" gives way to this step's "Use a passkey instead".
  const passkeyBox = $('[data-passkey-sign-in]');
  if (passkeyBox) passkeyBox.hidden = true;
  const sendButton = $('[data-action="send-otp"]', form);
  const help = $('[data-two-factor-help]', form);
  const code = form.elements.namedItem('code');
  const method = () => form.elements.namedItem('method').value;
  if (!(methods || []).includes('totp')) {
    form.querySelector('input[value="totp"]').closest('label').hidden = true;
    form.querySelector('input[value="otp"]').checked = true;
  }
  const update = () => {
    help.textContent = HELP[method()];
    sendButton.hidden = method() !== 'otp';
    code.setAttribute('inputmode', method() === 'backup' ? 'text' : 'numeric');
  };
  form.addEventListener('change', update);
  update();
  code.focus();
  sendButton.addEventListener('click', async () => {
    clearErrors(form);
    try {
      await busy(sendButton, 'Sending…', () => auth.twoFactor.sendOtp());
      help.textContent = 'We sent a code to your email address. Enter it below.';
      code.focus();
    } catch (error) {
      showFormError(form, error);
    }
  });
  return new Promise((resolve) => {
    // A passkey of the account ends the sign-in too: the sign-in options asked with the pending
    // two-factor cookie name this account's passkeys only (see docs/design.md).
    const passkeyButton = $('[data-action="passkey-second-factor"]', form);
    if ((methods || []).includes('passkey') && passkeysSupported()) {
      passkeyButton.hidden = false;
      passkeyButton.addEventListener('click', async () => {
        clearErrors(form);
        try {
          await busy(passkeyButton, 'Waiting for your passkey…', () => signInWithPasskey());
          resolve();
        } catch (error) {
          showFormError(form, error);
        }
      });
    }
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const entered = value(form, 'code');
      if (!entered) {
        fieldError(form, 'code', 'Enter the code.');
        return focusFirstError(form);
      }
      const trust = form.elements.namedItem('trustDevice').checked;
      const verify = {
        totp: auth.twoFactor.verifyTotp,
        otp: auth.twoFactor.verifyOtp,
        backup: auth.twoFactor.verifyBackupCode,
      }[method()];
      try {
        await busy($('button[type="submit"]', form), 'Verifying…', () => verify(entered, trust));
        resolve();
      } catch (error) {
        showFormError(form, error);
      }
    });
  });
}

/** An SVG data URL of a QR code's modules (dark = 1), with a 4-module quiet zone. */
function qrImage({ size, modules }) {
  const quiet = 4;
  const total = size + 2 * quiet;
  let path = '';
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      if (modules[y * size + x] === '1') path += `M${x + quiet} ${y + quiet}h1v1h-1z`;
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${total} ${total}" shape-rendering="crispEdges">`
    + `<rect width="${total}" height="${total}" fill="#fff"/><path d="${path}" fill="#000"/></svg>`;
  return `data:image/svg+xml;base64,${btoa(svg)}`;
}

function showCodes(list, codes) {
  list.replaceChildren(...codes.map((c) => h('li', {}, h('code', {}, c))));
  list.hidden = false;
}

/** The account page's two-factor panel. */
export function twoFactorPanel(user) {
  const status = $('[data-two-factor-status]');
  const enableForm = $('[data-form="two-factor-enable"]');
  const setup = $('[data-two-factor-setup]');
  const confirmForm = $('[data-form="two-factor-confirm"]');
  const disableForm = $('[data-form="two-factor-disable"]');
  const render = (on) => {
    status.textContent = on
      ? 'On: signing in asks for a code from your authenticator app, a backup code or an emailed code.'
      : 'Off: your password alone signs you in. Add a second step with an authenticator app.';
    enableForm.hidden = on;
    disableForm.hidden = !on;
    if (on) setup.hidden = true;
  };
  render(!!user.twoFactorEnabled);

  enableForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(enableForm);
    const password = value(enableForm, 'password', { trim: false });
    if (!password) {
      fieldError(enableForm, 'password', 'Enter your password.');
      return focusFirstError(enableForm);
    }
    try {
      const result = await busy($('button[type="submit"]', enableForm), 'Setting up…', () => auth.twoFactor.enable(password));
      enableForm.reset();
      const uri = new URL(result.totpURI);
      $('[data-totp-key]').textContent = uri.searchParams.get('secret') || '';
      $('[data-qr]').src = qrImage(await qrCode(result.totpURI));
      showCodes($('[data-backup-codes]'), result.backupCodes || []);
      enableForm.hidden = true;
      setup.hidden = false;
      confirmForm.elements.namedItem('code').focus();
    } catch (error) {
      showFormError(enableForm, error, { currentPassword: 'password' });
    }
  });

  confirmForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(confirmForm);
    const code = value(confirmForm, 'code');
    if (!/^\d{6}$/.test(code)) {
      fieldError(confirmForm, 'code', 'Enter the 6-digit code your app shows.');
      return focusFirstError(confirmForm);
    }
    try {
      await busy($('button[type="submit"]', confirmForm), 'Checking…', () => auth.twoFactor.verifyTotp(code, false));
      confirmForm.reset();
      render(true);
      status.focus();
    } catch (error) {
      showFormError(confirmForm, error);
    }
  });

  disableForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(disableForm);
    const password = value(disableForm, 'password', { trim: false });
    if (!password) {
      fieldError(disableForm, 'password', 'Enter your password.');
      return focusFirstError(disableForm);
    }
    try {
      await busy($('button[type="submit"]', disableForm), 'Turning off…', () => auth.twoFactor.disable(password));
      disableForm.reset();
      $('[data-new-backup-codes]').hidden = true;
      render(false);
    } catch (error) {
      showFormError(disableForm, error, { currentPassword: 'password' });
    }
  });

  const newCodes = $('[data-action="new-backup-codes"]');
  newCodes.addEventListener('click', async () => {
    clearErrors(disableForm);
    const password = value(disableForm, 'password', { trim: false });
    if (!password) {
      fieldError(disableForm, 'password', 'Enter your password.');
      return focusFirstError(disableForm);
    }
    try {
      const result = await busy(newCodes, 'Making codes…', () => auth.twoFactor.generateBackupCodes(password));
      disableForm.elements.namedItem('password').value = '';
      showCodes($('[data-new-backup-codes]'), result.backupCodes || []);
    } catch (error) {
      showFormError(disableForm, error, { currentPassword: 'password' });
    }
  });
}
