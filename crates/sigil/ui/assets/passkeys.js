// Passkeys in the browser: the WebAuthn calls and the JSON that Better Auth's passkey routes
// take (what `@better-auth/passkey`'s `passkeyClient()` sends through SimpleWebAuthn: options
// with base64url fields in, `RegistrationResponseJSON` / `AuthenticationResponseJSON` out).

import { ApiError, auth } from './api.js';

/** Whether this browser can use passkeys here (WebAuthn in a secure context). */
export function passkeysSupported() {
  // Browsers refuse an IP address as the WebAuthn rp id, and so does the server (400
  // PASSKEYS_UNAVAILABLE): on http://127.0.0.1 or [::1] passkeys cannot work, so offer none.
  const host = location.hostname;
  const ipHost = /^[0-9.]+$/.test(host) || host.includes(':') || host.startsWith('[');
  return Boolean(window.PublicKeyCredential && navigator.credentials && window.isSecureContext && !ipHost);
}

function fromB64url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const descriptor = (d) => ({ ...d, id: fromB64url(d.id) });

/** A browser refusal (cancelled, timed out, no matching passkey) as an `ApiError`. */
function refusal(error, what) {
  if (error && error.name === 'InvalidStateError') {
    return new ApiError(400, 'PASSKEY_ALREADY_REGISTERED', 'This device already holds a passkey for your account.');
  }
  if (error && error.name === 'NotAllowedError') {
    return new ApiError(400, 'PASSKEY_CANCELLED', `${what} was cancelled or timed out.`);
  }
  return new ApiError(400, 'PASSKEY_FAILED', `${what} failed: ${(error && error.message) || error}`);
}

/** Creates a passkey for the signed-in user and registers it under `name`. */
export async function addPasskey(name) {
  const options = await auth.passkeyRegisterOptions(name);
  let credential;
  try {
    credential = await navigator.credentials.create({
      publicKey: {
        ...options,
        challenge: fromB64url(options.challenge),
        user: { ...options.user, id: fromB64url(options.user.id) },
        excludeCredentials: (options.excludeCredentials || []).map(descriptor),
      },
    });
  } catch (error) {
    throw refusal(error, 'Adding the passkey');
  }
  const r = credential.response;
  const response = {
    id: credential.id,
    rawId: toB64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      attestationObject: toB64url(r.attestationObject),
      transports: typeof r.getTransports === 'function' ? r.getTransports() : [],
    },
  };
  return auth.passkeyVerifyRegistration(response, name);
}

/** Signs in with a passkey this browser or a nearby device holds (no email needed). */
export async function signInWithPasskey() {
  const options = await auth.passkeyAuthenticateOptions();
  let credential;
  try {
    credential = await navigator.credentials.get({
      publicKey: {
        ...options,
        challenge: fromB64url(options.challenge),
        allowCredentials: (options.allowCredentials || []).map(descriptor),
      },
    });
  } catch (error) {
    throw refusal(error, 'Signing in with a passkey');
  }
  const r = credential.response;
  const response = {
    id: credential.id,
    rawId: toB64url(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature),
      userHandle: r.userHandle ? toB64url(r.userHandle) : undefined,
    },
  };
  return auth.passkeyVerifyAuthentication(response);
}
