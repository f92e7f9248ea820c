// Passkeys in a real browser: Chromium's virtual authenticator (Chrome DevTools Protocol
// `WebAuthn.addVirtualAuthenticator`: CTAP2, internal, resident keys, user verification) stands
// in for a fingerprint reader. A person signs up with a password, adds a passkey on the account
// page, signs out, signs in with the passkey alone, renames it and deletes it; a deleted passkey
// no longer signs in. With two-factor on, a password sign-in ends with the passkey instead of a
// code, and the passkey alone still signs in. The deployment's base URL is `http://localhost:<port>` (browsers refuse an
// IP address as the WebAuthn relying party id).

import { createHmac } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { assert, assertEqual, recordTraffic } from './lib/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** The official client (`better-auth` + `passkeyClient()`), bundled for the browser. */
async function officialClientBundle() {
  const result = await build({
    entryPoints: [join(here, 'official-client.entry.mjs')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

/** A context whose pages share one virtual platform authenticator. */
async function withAuthenticator(browser, env, problems) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: env.authUrl });
  context.on('page', (page) => {
    page.on('pageerror', (error) => problems.push(`page error at ${page.url()}: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`CSP at ${page.url()}: ${message.text()}`);
    });
  });
  const traffic = recordTraffic(context);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  return { context, page, traffic, cdp, authenticatorId, credentials };
}

/** The current RFC 6238 code (SHA-1, 6 digits, 30 s) for the key in an `otpauth://` URI. */
function totp(uri) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const key = [];
  for (const c of new URL(uri).searchParams.get('secret').replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      key.push((value >>> bits) & 0xff);
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000)));
  const mac = createHmac('sha1', Buffer.from(key)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0');
}

/** The answer of the last request to `path` in `traffic`. */
function last(traffic, path) {
  return [...traffic].reverse().find((e) => new URL(e.url).pathname === path);
}

export async function runPasskeys(browser, env, run) {
  const problems = [];
  const tag = env.name.replace(/\W/g, '');
  const grace = { name: 'Grace Hopper', email: `grace.${tag}@example.com`, password: 'compilers are friends' };
  const A = await withAuthenticator(browser, env, problems);
  const { page, traffic } = A;
  try {
    await run.step('passkeys: sign up with a password', async () => {
      await page.goto('/sign-up');
      await page.getByLabel('Name').fill(grace.name);
      await page.getByLabel('Email').fill(grace.email);
      await page.getByLabel('Password', { exact: true }).fill(grace.password);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.waitForURL('**/tasks');
    }, [page]);

    await run.step('passkeys: add a passkey on the account page', async () => {
      await page.goto('/account');
      await page.getByText('No passkeys yet.').waitFor();
      await page.getByLabel('Name for a new passkey').fill('Virtual laptop');
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.getByText('Passkey added. You can now sign in with it.').waitFor();
      await page.locator('li.passkey .passkey-name', { hasText: 'Virtual laptop' }).waitFor();
      const creds = await A.credentials();
      assertEqual(creds.length, 1, 'the authenticator holds one credential');
      assert(creds[0].isResidentCredential, 'the passkey is discoverable (resident)');
      assertEqual(creds[0].rpId, 'localhost', 'rp id is the base URL host');
      const verify = last(traffic, '/api/auth/passkey/verify-registration');
      assertEqual(verify && verify.status, 200, 'verify-registration answered 200');
      await run.shot(page, 'account-passkey-added');
    }, [page]);

    await run.step('passkeys: sign out, then sign in with the passkey alone', async () => {
      await page.getByRole('button', { name: 'Sign out', exact: true }).first().click();
      await page.waitForURL('**/sign-in**');
      await run.shot(page, 'sign-in-with-passkey-button');
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await page.waitForURL('**/tasks');
      const verify = last(traffic, '/api/auth/passkey/verify-authentication');
      assertEqual(verify && verify.status, 200, 'verify-authentication answered 200');
      const options = last(traffic, '/api/auth/passkey/generate-authenticate-options');
      assert(options, 'the page asked for sign-in options');
      // The session is a normal one: the account page shows Grace and this session.
      await page.goto('/account');
      await page.getByText(grace.email).first().waitFor();
      await page.locator('li.session.is-current').waitFor();
      const creds = await A.credentials();
      assert(creds[0].signCount >= 1, `the authenticator signed (${creds[0].signCount})`);
    }, [page]);

    await run.step('passkeys: rename and delete the passkey', async () => {
      await page.getByRole('button', { name: 'Rename Virtual laptop' }).click();
      await page.getByLabel('New name').fill('Work laptop');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.locator('li.passkey .passkey-name', { hasText: 'Work laptop' }).waitFor();
      await page.getByRole('button', { name: 'Delete Work laptop' }).click();
      await page.locator('[data-passkey-delete-dialog] button[value="delete"]').click();
      await page.getByText('No passkeys yet.').waitFor();
      const list = await page.evaluate(async () => (await fetch('/api/auth/passkey/list-user-passkeys')).json());
      assertEqual(list, [], 'the server lists no passkey');
      await run.shot(page, 'account-passkey-deleted');
    }, [page]);

    await run.step('passkeys: a deleted passkey no longer signs in', async () => {
      await page.getByRole('button', { name: 'Sign out', exact: true }).first().click();
      await page.waitForURL('**/sign-in**');
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await page.getByText('This passkey is not registered with Sigil any more').waitFor();
      const verify = last(traffic, '/api/auth/passkey/verify-authentication');
      assertEqual(verify && verify.status, 401, 'verify-authentication answered 401');
      assert(page.url().includes('/sign-in'), 'still on the sign-in page');
      await run.shot(page, 'sign-in-deleted-passkey');
      await A.cdp.send('WebAuthn.clearCredentials', { authenticatorId: A.authenticatorId });
    }, [page]);

    await run.step('passkeys: the official passkeyClient() registers, signs in and deletes', async () => {
      // Served at this origin, so the pages' `script-src 'self'` lets it run.
      const bundle = await officialClientBundle();
      await A.context.route('**/__test__/official-client.js', (route) =>
        route.fulfill({ status: 200, contentType: 'text/javascript', body: bundle }),
      );
      await page.goto('/sign-in');
      await page.getByLabel('Email').fill(grace.email);
      await page.getByLabel('Password', { exact: true }).fill(grace.password);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.waitForURL('**/tasks');
      await page.goto('/account');
      await page.addScriptTag({ url: '/__test__/official-client.js' });
      const added = await page.evaluate(() => window.officialClient.passkey.addPasskey({ name: 'Official client' }));
      assertEqual(added.error, null, 'addPasskey has no error');
      assertEqual(added.data.name, 'Official client', 'addPasskey answers the passkey');
      const listed = await page.evaluate(() => window.officialClient.passkey.listUserPasskeys());
      assertEqual(listed.data.map((p) => p.name), ['Official client'], 'listUserPasskeys');
      const out = await page.evaluate(() => window.officialClient.signOut());
      assertEqual(out.data, { success: true }, 'signOut');
      const none = await page.evaluate(() => window.officialClient.getSession());
      assertEqual(none.data, null, 'signed out');
      const signedIn = await page.evaluate(() => window.officialClient.signIn.passkey());
      assertEqual(signedIn.error, null, 'signIn.passkey has no error');
      assertEqual(signedIn.data.user.email, grace.email, 'signIn.passkey answers the user');
      const session = await page.evaluate(() => window.officialClient.getSession());
      assertEqual(session.data.user.email, grace.email, 'getSession after signIn.passkey');
      const renamed = await page.evaluate((id) => window.officialClient.passkey.updatePasskey({ id, name: 'Renamed' }), added.data.id);
      assertEqual(renamed.data.passkey.name, 'Renamed', 'updatePasskey');
      const removed = await page.evaluate((id) => window.officialClient.passkey.deletePasskey({ id }), added.data.id);
      assertEqual(removed.data, { status: true }, 'deletePasskey');
      const again = await page.evaluate(() => window.officialClient.signIn.passkey());
      assertEqual(again.error && again.error.code, 'PASSKEY_NOT_FOUND', 'a deleted passkey is refused through the official client');
    }, [page]);

    await run.step('passkeys: with two-factor on, a passkey is the second step of a password sign-in', async () => {
      // Two-factor (authenticator app) on for Grace, through the API the account page uses.
      const enabled = await page.evaluate(async (password) => {
        const r = await fetch('/api/auth/two-factor/enable', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
        return r.json();
      }, grace.password);
      assert(typeof enabled.totpURI === 'string', `two-factor/enable answered a TOTP URI: ${JSON.stringify(enabled)}`);
      const confirmed = await page.evaluate(async (code) => {
        const r = await fetch('/api/auth/two-factor/verify-totp', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
        return r.status;
      }, totp(enabled.totpURI));
      assertEqual(confirmed, 200, 'the first TOTP code turns two-factor on');
      // The authenticator forgets the passkeys deleted above, so a discoverable sign-in below
      // cannot pick one of them.
      await A.cdp.send('WebAuthn.clearCredentials', { authenticatorId: A.authenticatorId });
      await page.goto('/account');
      await page.getByLabel('Name for a new passkey').fill('Second factor');
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.getByText('Passkey added. You can now sign in with it.').waitFor();

      await page.getByRole('button', { name: 'Sign out', exact: true }).first().click();
      await page.waitForURL('**/sign-in**');
      await page.getByLabel('Email').fill(grace.email);
      await page.getByLabel('Password', { exact: true }).fill(grace.password);
      const signIn = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/auth/sign-in/email');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      assertEqual((await (await signIn).json()).twoFactorMethods, ['totp', 'otp', 'passkey'], 'the second step offers the passkey');
      const usePasskey = page.getByRole('button', { name: 'Use a passkey instead' });
      await usePasskey.waitFor();
      await run.shot(page, 'sign-in-second-step-passkey');
      const options = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/auth/passkey/generate-authenticate-options');
      await usePasskey.click();
      const listed = (await (await options).json()).allowCredentials || [];
      await page.waitForURL('**/tasks');
      assertEqual(listed.length, 1, 'the options name Grace\'s passkey only');
      const verify = last(traffic, '/api/auth/passkey/verify-authentication');
      assertEqual(verify && verify.status, 200, 'verify-authentication answered 200');
      const cookies = await A.context.cookies();
      assert(!cookies.some((c) => c.name.endsWith('two_factor')), 'the two-factor cookie is gone');
      assert(cookies.some((c) => c.name.endsWith('session_token')), 'a session cookie is set');
      await page.goto('/account');
      await page.getByText(grace.email).first().waitFor();
    }, [page]);

    await run.step('passkeys: with two-factor on, a passkey alone still signs in (it is two factors)', async () => {
      await page.getByRole('button', { name: 'Sign out', exact: true }).first().click();
      await page.waitForURL('**/sign-in**');
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await page.waitForURL('**/tasks');
      const verify = last(traffic, '/api/auth/passkey/verify-authentication');
      assertEqual(verify && verify.status, 200, 'verify-authentication answered 200');
      const session = await page.evaluate(async () => (await fetch('/api/auth/get-session')).json());
      assertEqual(session.user.email, grace.email, 'signed in as Grace');
      assertEqual(session.user.twoFactorEnabled, true, 'with two-factor on');
    }, [page]);

    assertEqual(problems, [], 'no script errors or CSP violations');
  } finally {
    await A.context.close();
  }
}
