// Social sign-in in the browser: "Continue with …" buttons for the providers the server lists in
// <meta name="sigil-providers">, and the account page's linked accounts (link another, unlink).
// The flow itself is the server's: a POST answers the provider's URL and sets the state cookie,
// then the browser goes there and comes back through /api/auth/callback/{id}.

import { auth } from './api.js';
import { $, h, busy, showAlert } from './dom.js';

/** The configured providers: `[{id, name}]`. */
export function providers() {
  const meta = document.querySelector('meta[name="sigil-providers"]');
  try {
    const list = JSON.parse(meta ? meta.content : '[]');
    return Array.isArray(list) ? list.filter((p) => p && typeof p.id === 'string' && typeof p.name === 'string') : [];
  } catch {
    return [];
  }
}

/** What a callback's `?error=` code means, in words. */
const CALLBACK_ERRORS = {
  account_not_linked: 'An account with this email already exists. Sign in with your password first, verify your email, then link the provider from your account page.',
  state_mismatch: 'The sign-in took too long or was started in another browser. Please try again.',
  state_not_found: 'The sign-in took too long or was started in another browser. Please try again.',
  access_denied: 'The sign-in was cancelled at the provider.',
  email_not_found: 'The provider did not share an email address.',
  email_does_not_match: 'That account at the provider uses another email address.',
  unable_to_link_account: 'The provider does not vouch for that email address, so it cannot be linked.',
  account_already_linked_to_different_user: 'That account at the provider is linked to another user.',
  signup_disabled: 'New accounts cannot be created with this provider.',
};

/** The sentence for a callback error code (unknown codes get a generic one). */
export function callbackError(code) {
  return CALLBACK_ERRORS[code] || 'Signing in with the provider did not work. Please try again.';
}

/**
 * Fills `container` with one button per provider; each starts the flow (sign-in when `link` is
 * false, linking to the signed-in user otherwise) and leaves for the provider.
 */
export function providerButtons(container, { link = false, callbackURL, errorCallbackURL, onError }) {
  const list = providers();
  container.replaceChildren(
    ...list.map((p) => {
      const button = h('button', { type: 'button', class: 'btn btn-secondary btn-block', 'data-provider': p.id }, link ? `Link ${p.name}` : `Continue with ${p.name}`);
      button.addEventListener('click', async () => {
        try {
          const body = { provider: p.id, callbackURL, errorCallbackURL, disableRedirect: true };
          const answer = await busy(button, 'Redirecting…', () => (link ? auth.linkSocial(body) : auth.signInSocial(body)));
          location.assign(answer.url);
        } catch (error) {
          if (onError) onError(error);
        }
      });
      return button;
    }),
  );
  return list.length;
}

/** The account page's "Linked accounts" panel. */
export async function linkedAccounts() {
  const panel = $('[data-linked]');
  if (!panel) return;
  const list = $('[data-linked-list]', panel);
  const alert = $('[data-linked-error]', panel);
  const params = new URLSearchParams(location.search);
  if (params.get('error')) alert.textContent = callbackError(params.get('error'));
  const names = Object.fromEntries(providers().map((p) => [p.id, p.name]));
  const refresh = async () => {
    const accounts = await auth.listAccounts();
    list.replaceChildren(
      ...accounts.map((a) => {
        const label = a.providerId === 'credential' ? 'Password' : names[a.providerId] || a.providerId;
        const item = h('li', { class: 'linked-item', 'data-account': a.providerId }, h('span', { class: 'linked-name' }, label));
        if (a.providerId !== 'credential') {
          const unlink = h('button', { type: 'button', class: 'btn btn-quiet btn-small' }, 'Unlink');
          unlink.addEventListener('click', async () => {
            try {
              await busy(unlink, 'Unlinking…', () => auth.unlinkAccount(a.id));
              await refresh();
            } catch (error) {
              showAlert(alert, error);
            }
          });
          item.append(unlink);
        }
        return item;
      }),
    );
  };
  await refresh();
  const count = providerButtons($('[data-link-buttons]', panel), {
    link: true,
    callbackURL: '/account',
    errorCallbackURL: '/account',
    onError: (error) => showAlert(alert, error),
  });
  panel.hidden = false;
  if (!count) $('[data-link-buttons]', panel).hidden = true;
}
