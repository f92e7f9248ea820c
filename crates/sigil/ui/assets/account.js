// The account page: name, email verification, password, passkeys, sessions, sign out.

import { auth, goToSignIn } from './api.js';
import { addPasskey, passkeysSupported } from './passkeys.js';
import {
  $, h, busy, clearErrors, fieldError, flash, focusFirstError, passwordProblem,
  showAlert, showFormError, showUserName, timeElement, value,
} from './dom.js';
import { linkedAccounts } from './social.js';
import { twoFactorPanel } from './two-factor.js';

/** "Chrome on Linux" from a User-Agent string, and whether it is a phone or tablet. */
export function describeAgent(agent) {
  const ua = agent || '';
  const browser =
    /Edg\//.test(ua) ? 'Edge'
      : /OPR\//.test(ua) ? 'Opera'
        : /Firefox\//.test(ua) ? 'Firefox'
          : /HeadlessChrome\//.test(ua) ? 'Headless Chrome'
            : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
              : /Safari\//.test(ua) ? 'Safari'
                : /^curl\//.test(ua) ? 'curl'
                  : /^node|undici/i.test(ua) ? 'Node.js'
                    : null;
  const os =
    /iPhone|iPad|iPod/.test(ua) ? 'iOS'
      : /Android/.test(ua) ? 'Android'
        : /Windows/.test(ua) ? 'Windows'
          : /Macintosh|Mac OS X/.test(ua) ? 'macOS'
            : /CrOS/.test(ua) ? 'ChromeOS'
              : /Linux/.test(ua) ? 'Linux'
                : null;
  const mobile = /Mobile|Android|iPhone|iPad/.test(ua);
  const name = browser && os ? `${browser} on ${os}` : browser || os || (ua ? ua.slice(0, 48) : 'Unknown device');
  return { name, mobile };
}

const ICON_DESKTOP = 'M4 5h16v10H4zM2 17h20v2H2z';
const ICON_MOBILE = 'M7 2h10a1 1 0 0 1 1 1v18a1 1 0 0 1-1 1H7a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1zm1 2v15h8V4z';

function icon(mobile) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', mobile ? ICON_MOBILE : ICON_DESKTOP);
  path.setAttribute('fill', 'currentColor');
  svg.append(path);
  return h('span', { class: 'session-icon' }, svg);
}

/** "14:05:09" (today), or "3 Mar, 14:05:09": when a session signed in, to the second. */
function signInTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })}, ${time}`;
}

export async function accountPage() {
  let session;
  try {
    session = await auth.getSession();
  } catch (error) {
    showAlert($('[data-sessions-error]'), error);
    return;
  }
  if (!session) return goToSignIn();
  let { user } = session;
  let currentSessionId = session.session.id;
  showUserName(user.name, user.email);
  linkedAccounts().catch((error) => showAlert($('[data-linked-error]'), error));

  // Profile.
  const profile = $('[data-form="profile"]');
  const badge = $('[data-verified]');
  $('[data-email]').textContent = user.email;
  badge.hidden = false;
  badge.textContent = user.emailVerified ? 'Verified' : 'Not verified';
  badge.classList.add(user.emailVerified ? 'badge-ok' : 'badge-warn');
  profile.elements.namedItem('name').value = user.name;
  twoFactorPanel(user);
  if (!user.emailVerified) {
    $('[data-verify-row]').hidden = false;
    const button = $('[data-action="send-verification"]');
    const status = $('[data-verify-status]');
    button.addEventListener('click', async () => {
      try {
        await busy(button, 'Sending…', () => auth.sendVerificationEmail(user.email));
        status.textContent = `We sent a link to ${user.email}. It works for one hour.`;
      } catch (error) {
        showAlert(status, error);
      }
    });
  }
  profile.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(profile);
    const name = value(profile, 'name');
    if (!name) {
      fieldError(profile, 'name', 'Enter your name.');
      return focusFirstError(profile);
    }
    try {
      await busy($('button[type="submit"]', profile), 'Saving…', () => auth.updateUser({ name }));
      user = { ...user, name };
      showUserName(user.name, user.email);
      flash($('[data-saved]', profile), 'Saved.');
    } catch (error) {
      showFormError(profile, error);
    }
  });

  // Password.
  const password = $('[data-form="password"]');
  password.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(password);
    const current = value(password, 'currentPassword', { trim: false });
    const next = value(password, 'newPassword', { trim: false });
    const revoke = password.elements.namedItem('revokeOtherSessions').checked;
    if (!current) fieldError(password, 'currentPassword', 'Enter your current password.');
    const problem = next ? passwordProblem(next) : 'Choose a new password.';
    if (problem) fieldError(password, 'newPassword', problem);
    if ($('[aria-invalid="true"]', password)) return focusFirstError(password);
    try {
      await busy($('button[type="submit"]', password), 'Changing…', () =>
        auth.changePassword(current, next, revoke),
      );
      password.reset();
      password.elements.namedItem('revokeOtherSessions').checked = revoke;
      flash($('[data-saved]', password), revoke ? 'Password changed. Other devices were signed out.' : 'Password changed.', 8000);
      if (revoke) {
        // Every session ended and this browser got a new one.
        const fresh = await auth.getSession();
        if (fresh) currentSessionId = fresh.session.id;
        await loadSessions();
      }
    } catch (error) {
      showFormError(password, error, { password: 'newPassword' });
    }
  });

  await setupPasskeys();

  // Sessions.
  const list = $('[data-sessions]');
  const sessionsError = $('[data-sessions-error]');
  const sessionsStatus = $('[data-sessions-status]');
  const revokeOthers = $('[data-action="revoke-others"]');

  function sessionItem(s) {
    const device = describeAgent(s.userAgent);
    const isCurrent = s.id === currentSessionId;
    const where = s.ipAddress ? `IP ${s.ipAddress}` : 'IP unknown';
    // Two sessions of one browser look alike: the exact sign-in time and the start of the
    // session's id tell them apart (the id is not the token; it cannot be used to sign in).
    const shortId = String(s.id || '').slice(0, 6);
    const at = signInTime(s.createdAt);
    const li = h(
      'li',
      { class: `session${isCurrent ? ' is-current' : ''}`, dataset: { sessionId: s.id } },
      icon(device.mobile),
      h(
        'div',
        { class: 'session-main' },
        h('p', { class: 'session-device' }, device.name, isCurrent ? h('span', { class: 'badge badge-current' }, 'This device') : null),
        h(
          'p',
          { class: 'session-meta' },
          `${where} · `,
          timeElement(s.createdAt, 'signed in '),
          at ? ` at ${at}` : '',
          ' · ',
          h('span', { class: 'session-id', title: 'Session ID' }, `session ${shortId}`),
        ),
      ),
    );
    if (!isCurrent) {
      const button = h(
        'button',
        { type: 'button', class: 'btn btn-secondary btn-small', 'aria-label': `Sign out ${device.name}, ${where}, session ${shortId}` },
        'Sign out',
      );
      button.addEventListener('click', async () => {
        sessionsError.replaceChildren();
        try {
          await busy(button, 'Signing out…', () => auth.revokeSession(s.token));
          li.remove();
          flash(sessionsStatus, `Signed out ${device.name}.`);
          revokeOthers.hidden = list.children.length < 2;
          revokeOthers.focus();
          if (revokeOthers.hidden) $('[data-action="sign-out-here"]').focus();
        } catch (error) {
          showAlert(sessionsError, error);
        }
      });
      li.append(button);
    }
    return li;
  }

  async function loadSessions() {
    sessionsError.replaceChildren();
    try {
      const sessions = await auth.listSessions();
      sessions.sort((a, b) =>
        a.id === currentSessionId ? -1 : b.id === currentSessionId ? 1 : b.createdAt.localeCompare(a.createdAt),
      );
      list.replaceChildren(...sessions.map(sessionItem));
      revokeOthers.hidden = sessions.length < 2;
    } catch (error) {
      showAlert(sessionsError, error);
    } finally {
      $('[data-sessions-loading]').hidden = true;
    }
  }

  revokeOthers.addEventListener('click', async () => {
    sessionsError.replaceChildren();
    try {
      await busy(revokeOthers, 'Signing out…', () => auth.revokeOtherSessions());
      await loadSessions();
      flash(sessionsStatus, 'Every other session is signed out.');
      $('[data-action="sign-out-here"]').focus();
    } catch (error) {
      showAlert(sessionsError, error);
    }
  });

  // Sign out.
  const signOutError = $('[data-signout-error]');
  const here = $('[data-action="sign-out-here"]');
  here.addEventListener('click', async () => {
    try {
      await busy(here, 'Signing out…', () => auth.signOut());
      location.replace('/sign-in?reason=signed-out');
    } catch (error) {
      showAlert(signOutError, error);
    }
  });
  const everywhere = $('[data-action="sign-out-everywhere"]');
  everywhere.addEventListener('click', async () => {
    try {
      await busy(everywhere, 'Signing out…', () => auth.revokeSessions());
      location.replace('/sign-in?reason=signed-out-everywhere');
    } catch (error) {
      showAlert(signOutError, error);
    }
  });

  await loadSessions();
}

/** Asks for confirmation in the passkey delete dialog; resolves true to delete. */
function confirmPasskeyDelete(name) {
  const dialog = $('[data-passkey-delete-dialog]');
  $('[data-delete-name]', dialog).textContent = name;
  return new Promise((resolve) => {
    const onClose = () => {
      if (dialog.open) return;
      dialog.removeEventListener('close', onClose);
      resolve(dialog.returnValue === 'delete');
    };
    dialog.returnValue = '';
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    $('button[value="cancel"]', dialog).focus();
  });
}

/** The passkeys panel: list, add, rename, delete. */
async function setupPasskeys() {
  const list = $('[data-passkeys]');
  const error = $('[data-passkeys-error]');
  const status = $('[data-passkeys-status]');
  const empty = $('[data-passkeys-empty]');
  const form = $('[data-form="passkey"]');
  const label = (p) => p.name || 'Unnamed passkey';

  function item(p) {
    const name = h('p', { class: 'passkey-name' }, label(p));
    const kind = p.deviceType === 'multiDevice' ? 'synced' : 'this device only';
    const main = h(
      'div',
      {},
      name,
      h('p', { class: 'passkey-meta' }, timeElement(p.createdAt, 'added '), ` · ${kind}`),
    );
    const li = h('li', { class: 'passkey', dataset: { passkeyId: p.id } }, main);
    const rename = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'aria-label': `Rename ${label(p)}` }, 'Rename');
    const remove = h('button', { type: 'button', class: 'btn btn-danger btn-small', 'aria-label': `Delete ${label(p)}` }, 'Delete');
    rename.addEventListener('click', () => {
      const input = h('input', { type: 'text', maxlength: '256', value: p.name || '', 'aria-label': 'New name' });
      const save = h('button', { type: 'submit', class: 'btn btn-primary btn-small' }, 'Save');
      const cancel = h('button', { type: 'button', class: 'btn btn-secondary btn-small' }, 'Cancel');
      const edit = h('form', { class: 'passkey-rename', novalidate: '' }, input, save, cancel);
      const restore = () => {
        edit.replaceWith(name);
        rename.hidden = false;
        rename.focus();
      };
      cancel.addEventListener('click', restore);
      edit.addEventListener('submit', async (event) => {
        event.preventDefault();
        error.replaceChildren();
        const next = input.value.trim();
        if (!next) {
          input.focus();
          return;
        }
        try {
          const answer = await busy(save, 'Saving…', () => auth.renamePasskey(p.id, next));
          Object.assign(p, answer.passkey);
          name.textContent = label(p);
          rename.setAttribute('aria-label', `Rename ${label(p)}`);
          remove.setAttribute('aria-label', `Delete ${label(p)}`);
          restore();
          flash(status, 'Passkey renamed.');
        } catch (e) {
          showAlert(error, e);
        }
      });
      name.replaceWith(edit);
      rename.hidden = true;
      input.focus();
    });
    remove.addEventListener('click', async () => {
      error.replaceChildren();
      if (!(await confirmPasskeyDelete(label(p)))) return remove.focus();
      try {
        await busy(remove, 'Deleting…', () => auth.deletePasskey(p.id));
        li.remove();
        empty.hidden = list.children.length > 0;
        flash(status, `Deleted ${label(p)}.`);
        $('button[type="submit"]', form).focus();
      } catch (e) {
        showAlert(error, e);
      }
    });
    li.append(rename, remove);
    return li;
  }

  async function load() {
    try {
      const passkeys = await auth.listPasskeys();
      list.replaceChildren(...passkeys.map(item));
      empty.hidden = passkeys.length > 0;
    } catch (e) {
      showAlert(error, e);
    }
  }

  if (!passkeysSupported()) {
    $('[data-passkeys-unsupported]').hidden = false;
    form.hidden = true;
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.replaceChildren();
    const name = value(form, 'name') || undefined;
    try {
      await busy($('button[type="submit"]', form), 'Waiting for your device…', () => addPasskey(name));
      form.reset();
      await load();
      flash(status, 'Passkey added. You can now sign in with it.', 8000);
    } catch (e) {
      showAlert(error, e);
    }
  });
  await load();
}
