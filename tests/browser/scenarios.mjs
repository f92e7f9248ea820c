// The browser scenarios, run against one deployment (see lib/servers.mjs). They use the pages the
// way a person does — by visible labels and button names — and check the wire underneath.

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { devices } from 'playwright-core';
import { assert, assertEqual, recordTraffic } from './lib/harness.mjs';

const DESKTOP = { viewport: { width: 1280, height: 860 } };
const PHONE = { ...devices['iPhone 13'], deviceScaleFactor: 2 };

/** Fails the run on script errors and Content-Security-Policy violations in any page. */
function watchPages(context, problems) {
  context.on('page', (page) => {
    page.on('pageerror', (error) => problems.push(`page error at ${page.url()}: ${error.message}`));
    page.on('console', (message) => {
      const text = message.text();
      if (/Content Security Policy|Refused to (load|execute|apply|connect)/i.test(text)) {
        problems.push(`CSP violation at ${page.url()}: ${text}`);
      }
    });
  });
}

async function newContext(browser, env, options, problems) {
  const context = await browser.newContext({ ...options, baseURL: env.authUrl });
  watchPages(context, problems);
  const traffic = recordTraffic(context);
  const page = await context.newPage();
  return { context, traffic, page };
}

/** The tasks shown: `[{title, done}]`, once the list has loaded. */
async function shownTasks(page) {
  await page.locator('[data-task-list]:not([aria-busy])').waitFor({ state: 'attached' });
  return page.locator('li.task').evaluateAll((items) =>
    items.map((li) => ({ title: li.querySelector('.task-title').textContent, done: li.classList.contains('is-done') })),
  );
}

async function waitForTaskCount(page, count) {
  await page.waitForFunction(
    (n) => document.querySelector('[data-task-list]:not([aria-busy])') && document.querySelectorAll('li.task').length === n,
    count,
    { timeout: 10_000 },
  );
}

async function addTask(page, title, notes = '') {
  await page.getByLabel('Title').fill(title);
  if (notes) await page.getByLabel('Notes').fill(notes);
  await page.getByRole('button', { name: 'Add task' }).click();
  await page.locator('li.task .task-title', { hasText: title }).waitFor();
}

async function signIn(page, email, password) {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Clicks `button`, whose form posts to an `/api/auth` path matching `api`, and waits for `done`.
 * Several scenarios share one client address, so the server's per-address limit on /sign-up and
 * /sign-in (3 per 10 s) can answer first: on a 429 the test waits out its Retry-After and submits
 * again.
 */
async function submitPastRateLimit(page, button, api, done) {
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const answer = page.waitForResponse((r) => r.request().method() === 'POST' && api.test(new URL(r.url()).pathname));
    await button.click();
    const response = await answer;
    if (response.status() !== 429) return done();
    const seconds = Number(response.headers()['retry-after'] ?? 10);
    await new Promise((r) => setTimeout(r, (seconds + 0.5) * 1000));
  }
  throw new Error('still rate-limited after four tries');
}

/** Requests of `traffic` made after index `from` whose URL matches `pattern`. */
function since(traffic, from, pattern) {
  return traffic.slice(from).filter((e) => pattern.test(e.url));
}

async function waitForStatus(entries, timeout = 5000) {
  const deadline = Date.now() + timeout;
  while (entries.some((e) => e.status === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** The latest mail of `kind` to `to` in the server's mail file. */
function mailTo(env, to, kind) {
  const lines = readFileSync(env.mailFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return lines.reverse().find((m) => m.to === to && m.kind === kind);
}

/** RFC 6238 code (HMAC-SHA-1, 6 digits) of time step `step` for a base32 key. */
function totpAt(base32, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const c of base32.trim().toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

async function eventually(check, what, timeout = 5000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runScenarios(browser, env, run) {
  const problems = [];
  const tag = env.name.replace(/\W/g, '');
  const ada = { name: 'Ada Lovelace', email: `ada.${tag}@example.com`, password: 'analytical engine 1843' };
  const bob = { name: 'Bob Marsh', email: `bob.${tag}@example.com`, password: 'a long and boring password' };
  const apiTasks = new RegExp(`^${env.apiUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/api/[^/]+/tasks`);
  const contexts = [];
  const A = await newContext(browser, env, DESKTOP, problems);
  contexts.push(A.context);
  const pageA = A.page;
  let adaId;
  let reportTaskId;

  try {
    // US6.1 — sign up, add three tasks, complete one, reload, sign out, sign in again.
    await run.step('a visitor signs up (with clear errors first)', async () => {
      await pageA.goto('/');
      await pageA.waitForURL('**/sign-in');
      await run.shot(pageA, 'sign-in');
      await pageA.getByRole('link', { name: 'Create an account' }).click();
      await pageA.waitForURL('**/sign-up');
      await pageA.getByRole('button', { name: 'Create account' }).click();
      await pageA.getByText('Enter your name.').waitFor();
      await pageA.getByLabel('Name').fill(ada.name);
      await pageA.getByLabel('Email').fill('ada@');
      await pageA.getByLabel('Password', { exact: true }).fill('short');
      await pageA.getByRole('button', { name: 'Create account' }).click();
      await pageA.getByText('Use at least 8 characters.').waitFor();
      await pageA.getByText('Enter a valid email address').waitFor();
      assert((await pageA.evaluate(() => document.activeElement.id)) === 'email', 'focus moves to the first field with an error');
      await run.shot(pageA, 'sign-up-errors');
      await pageA.getByLabel('Email').fill(ada.email);
      await pageA.getByLabel('Password', { exact: true }).fill(ada.password);
      await pageA.getByRole('button', { name: 'Create account' }).click();
      await pageA.waitForURL('**/tasks');
      await pageA.getByText('No tasks yet. Add your first one above.').waitFor();
      await pageA.getByText(ada.name, { exact: true }).waitFor();
      await run.shot(pageA, 'tasks-empty');
    }, [pageA]);

    await run.step('adds three tasks and completes one', async () => {
      await pageA.getByRole('button', { name: 'Add task' }).click();
      await pageA.getByText('Give the task a title.').waitFor();
      await addTask(pageA, 'Buy milk');
      await addTask(pageA, 'Write the report', 'Quarterly numbers, two pages at most.\nSend it to Grace.');
      await addTask(pageA, 'Call the bank');
      await pageA.getByRole('checkbox', { name: 'Write the report' }).click();
      await pageA.locator('li.task.is-done', { hasText: 'Write the report' }).waitFor();
      await pageA.getByText('3 tasks · 1 completed').waitFor();
      assertEqual(await shownTasks(pageA), [
        { title: 'Buy milk', done: false },
        { title: 'Write the report', done: true },
        { title: 'Call the bank', done: false },
      ], 'the list after adding and completing');
      reportTaskId = await pageA.locator('li.task', { hasText: 'Write the report' }).getAttribute('data-id');
      await run.shot(pageA, 'tasks-three-one-completed');
    }, [pageA]);

    await run.step('filters by status (a stale form error goes with the old view)', async () => {
      await pageA.getByRole('button', { name: 'Add task' }).click();
      await pageA.getByText('Give the task a title.').waitFor();
      await pageA.locator('[data-filter] label', { hasText: 'Pending' }).click();
      await pageA.waitForURL('**/tasks?status=pending');
      await waitForTaskCount(pageA, 2);
      assertEqual(await pageA.getByText('Give the task a title.').count(), 0, 'the empty-title error is cleared by a filter change');
      assertEqual(
        await pageA.locator('[data-form="add-task"] [name="title"]').getAttribute('aria-invalid'),
        null,
        'the title field is no longer marked invalid',
      );
      await run.shot(pageA, 'tasks-filter-pending');
      await pageA.locator('[data-filter] label', { hasText: 'Completed' }).click();
      await waitForTaskCount(pageA, 1);
      assertEqual(await shownTasks(pageA), [{ title: 'Write the report', done: true }], 'completed filter');
      await pageA.locator('[data-filter] label', { hasText: 'All' }).click();
      await waitForTaskCount(pageA, 3);
      await pageA.waitForURL(/\/tasks$/);
    }, [pageA]);

    await run.step('edits a task on its own page and deletes another', async () => {
      await pageA.getByRole('link', { name: 'Edit “Call the bank”' }).click();
      await pageA.waitForURL(/\/tasks\/[A-Za-z0-9]+$/);
      const title = pageA.getByLabel('Title');
      await title.waitFor();
      assertEqual(await title.inputValue(), 'Call the bank', 'the edit form is filled');
      await title.fill('Call the bank about the new card');
      await pageA.getByRole('button', { name: 'Save changes' }).click();
      await pageA.getByText('Changes saved.').waitFor();
      await run.shot(pageA, 'task-edit-saved');
      await pageA.getByRole('link', { name: '← Back to your tasks' }).click();
      await pageA.waitForURL(/\/tasks$/);
      await waitForTaskCount(pageA, 3);
      await addTask(pageA, 'Throw-away task');
      await pageA.getByRole('button', { name: 'Delete “Throw-away task”' }).click();
      const dialog = pageA.getByRole('dialog', { name: 'Delete this task?' });
      await dialog.waitFor();
      await run.shot(pageA, 'delete-dialog', { fullPage: false });
      await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
      await waitForTaskCount(pageA, 3);
    }, [pageA]);

    await run.step('reloads: the tasks are still there', async () => {
      await pageA.reload();
      await waitForTaskCount(pageA, 3);
      assertEqual(await shownTasks(pageA), [
        { title: 'Buy milk', done: false },
        { title: 'Write the report', done: true },
        { title: 'Call the bank about the new card', done: false },
      ], 'the list after a reload');
      await run.shot(pageA, 'tasks-after-reload');
    }, [pageA]);

    await run.step('works with the keyboard alone', async () => {
      const focused = () => pageA.evaluate(() => {
        const e = document.activeElement;
        return e.getAttribute('aria-label') || e.textContent.trim() || e.id;
      });
      await pageA.keyboard.press('Tab');
      assertEqual(await focused(), 'Skip to main content', 'the first Tab reaches the skip link');
      await pageA.keyboard.press('Enter');
      assertEqual(await pageA.evaluate(() => document.activeElement.id), 'main', 'the skip link moves focus to the content');
      await pageA.getByLabel('Title').focus();
      await pageA.keyboard.type('Typed without a mouse');
      await pageA.keyboard.press('Enter');
      await pageA.locator('li.task .task-title', { hasText: 'Typed without a mouse' }).waitFor();
      assertEqual(await pageA.evaluate(() => document.activeElement.id), 'task-title', 'focus returns to the title after adding');
      await pageA.getByRole('checkbox', { name: 'Typed without a mouse' }).focus();
      await pageA.keyboard.press('Space');
      await pageA.locator('li.task.is-done', { hasText: 'Typed without a mouse' }).waitFor();
      await pageA.keyboard.press('Tab'); // Edit
      await pageA.keyboard.press('Tab'); // Delete
      assertEqual(await focused(), 'Delete “Typed without a mouse”', 'Tab goes from the checkbox to Edit, then Delete');
      await pageA.keyboard.press('Enter');
      const dialog = pageA.getByRole('dialog', { name: 'Delete this task?' });
      await dialog.waitFor();
      assertEqual(await focused(), 'Cancel', 'the dialog opens on its safe choice');
      await pageA.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      assertEqual(await focused(), 'Delete “Typed without a mouse”', 'Escape closes the dialog and focus goes back');
      await pageA.keyboard.press('Enter');
      await dialog.waitFor();
      await pageA.keyboard.press('Tab');
      await pageA.keyboard.press('Enter');
      await waitForTaskCount(pageA, 3);
    }, [pageA]);

    await run.step('the JWT is in memory only, sent as Bearer and never with cookies', async () => {
      const stored = await pageA.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
      assert(!stored.includes('eyJ'), 'no JWT in web storage or script-readable cookies');
      assert(!stored.includes('session_token'), 'the session cookie is HttpOnly');
      const calls = A.traffic.filter((e) => apiTasks.test(e.url));
      assert(calls.length >= 8, `the tasks API was called (${calls.length} calls)`);
      for (const call of calls) {
        const headers = await call.request.allHeaders();
        if (call.method === 'OPTIONS') {
          assert(!headers.authorization, 'a preflight carries no token');
          continue;
        }
        assert(/^Bearer eyJ/.test(headers.authorization || ''), `${call.method} ${call.url} has a Bearer JWT`);
        assert(!headers.cookie, `${call.method} ${call.url} carries no cookie`);
      }
      if (env.split) {
        assert(!A.traffic.some((e) => e.url.startsWith(env.authUrl) && /\/api\/[^/]+\/tasks/.test(e.url) && !e.url.includes('/api/auth/')), 'in split mode tasks go to the API origin only');
      }
      adaId = await pageA.evaluate(async () => (await (await fetch('/api/auth/get-session')).json()).user.id);
    }, [pageA]);

    await run.step('signs out, fails with a wrong password, signs in again: tasks still there', async () => {
      await pageA.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
      await pageA.waitForURL('**/sign-in?reason=signed-out');
      await pageA.getByText('You are signed out.').waitFor();
      await signIn(pageA, ada.email, 'not my password');
      await pageA.getByText('The email or the password is not right.').waitFor();
      // The arrival notice gives way to the error rather than stacking above it.
      assertEqual(await pageA.getByText('You are signed out.').count(), 0, 'the signed-out notice is gone after a new attempt');
      assert(!pageA.url().includes('reason='), `the notice is out of the address too: ${pageA.url()}`);
      await run.shot(pageA, 'sign-in-wrong-password');
      await pageA.goto('/tasks');
      await pageA.waitForURL('**/sign-in?next=%2Ftasks');
      await signIn(pageA, ada.email, ada.password);
      await pageA.waitForURL(/\/tasks$/);
      await waitForTaskCount(pageA, 3);
      assertEqual((await shownTasks(pageA)).filter((t) => t.done), [{ title: 'Write the report', done: true }], 'completion survives');
    }, [pageA]);

    // US6.2 — a second user sees nothing of the first and cannot reach it by URL.
    const B = await newContext(browser, env, DESKTOP, problems);
    contexts.push(B.context);
    const pageB = B.page;
    await run.step('a second user: duplicate email refused, then an empty list', async () => {
      await pageB.goto('/sign-up');
      await pageB.getByLabel('Name').fill(bob.name);
      await pageB.getByLabel('Email').fill(ada.email.toUpperCase());
      await pageB.getByLabel('Password', { exact: true }).fill(bob.password);
      await pageB.getByRole('button', { name: 'Create account' }).click();
      await pageB.getByText('An account with this email already exists.').waitFor();
      await pageB.getByRole('link', { name: 'Sign in instead' }).waitFor();
      await run.shot(pageB, 'sign-up-duplicate-email');
      await pageB.getByLabel('Email').fill(bob.email);
      await pageB.getByRole('button', { name: 'Create account' }).click();
      await pageB.waitForURL(/\/tasks$/);
      await pageB.getByText('No tasks yet. Add your first one above.').waitFor();
      assertEqual(await shownTasks(pageB), [], 'Bob sees no task of Ada');
    }, [pageB]);

    await run.step("the second user cannot reach the first user's tasks by URL", async () => {
      await pageB.goto(`/tasks/${reportTaskId}`);
      await pageB.getByRole('heading', { name: 'Task not found' }).first().waitFor();
      await run.shot(pageB, 'task-of-another-user');
      const mistyped = await pageB.goto('/taks');
      assertEqual(mistyped.status(), 404, 'a mistyped address');
      await pageB.getByRole('heading', { name: 'Page not found' }).waitFor();
      await run.shot(pageB, 'page-not-found');
      const direct = await pageB.goto(`${env.apiUrl}/api/${adaId}/tasks`);
      assertEqual(direct.status(), 401, 'the API URL opened in the browser (cookies do not count)');
      assert(!(await direct.text()).includes('Write the report'), 'nothing of Ada leaks');
      await pageB.goto('/tasks');
      await waitForTaskCount(pageB, 0);
      const statuses = await pageB.evaluate(async ({ api, owner, task }) => {
        const { token } = await (await fetch('/api/auth/token')).json();
        const me = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub;
        const auth = { headers: { Authorization: `Bearer ${token}` } };
        const status = async (url) => (await fetch(url, auth)).status;
        return {
          list: await status(`${api}/api/${owner}/tasks`),
          one: await status(`${api}/api/${owner}/tasks/${task}`),
          underMine: await status(`${api}/api/${me}/tasks/${task}`),
        };
      }, { api: env.apiUrl, owner: adaId, task: reportTaskId });
      assertEqual(statuses, { list: 403, one: 403, underMine: 404 }, "Bob's token on Ada's routes and Ada's task id");
    }, [pageB]);

    // US6.3 — revoking a session on the account page signs that browser out.
    const C = await newContext(browser, env, PHONE, problems);
    contexts.push(C.context);
    const pageC = C.page;
    await run.step('the same user signs in on a phone', async () => {
      // A crafted link must not send the user elsewhere after signing in.
      await pageC.goto('/sign-in?next=//evil.example/phish');
      await run.shot(pageC, 'phone-sign-in');
      await signIn(pageC, ada.email, ada.password);
      await pageC.waitForURL(/\/tasks$/);
      assert(new URL(pageC.url()).origin === env.authUrl, 'next= only follows paths of this site');
      await waitForTaskCount(pageC, 3);
      await run.shot(pageC, 'phone-tasks');
      await pageC.getByRole('link', { name: 'Account' }).click();
      await pageC.waitForFunction(() => document.querySelectorAll('ul[data-sessions] > li').length === 2);
      await run.shot(pageC, 'phone-account');
      await pageC.getByRole('link', { name: 'Tasks' }).click();
      await waitForTaskCount(pageC, 3);
    }, [pageC]);

    await run.step('the account page lists both sessions and revokes the phone', async () => {
      await pageA.getByRole('link', { name: 'Account' }).click();
      await pageA.waitForURL('**/account');
      const sessions = pageA.locator('ul[data-sessions] > li');
      await pageA.waitForFunction(() => document.querySelectorAll('ul[data-sessions] > li').length === 2);
      const current = sessions.filter({ hasText: 'This device' });
      assert((await current.count()) === 1, 'one session is marked "This device"');
      assert((await current.textContent()).includes('Headless Chrome on Linux'), 'the desktop is this device');
      assert((await current.textContent()).includes('IP 127.0.0.1'), 'the IP address is shown');
      await sessions.filter({ hasText: 'Safari on iOS' }).waitFor();
      await run.shot(pageA, 'account');
      await pageA.getByRole('button', { name: /^Sign out Safari on iOS/ }).click();
      await pageA.getByText('Signed out Safari on iOS.').waitFor();
      await pageA.waitForFunction(() => document.querySelectorAll('ul[data-sessions] > li').length === 1);
      await run.shot(pageA, 'account-after-revoking-the-phone');
    }, [pageA]);

    await run.step('the revoked phone ends on the sign-in page', async () => {
      const from = C.traffic.length;
      if (!env.split) {
        // Its JWT is refused at once (same process): the next call gets a 401, the page asks
        // /api/auth/token once, which answers 401 too, and the page leaves for sign-in.
        await pageC.getByLabel('Title').fill('Sent from the phone');
        await pageC.getByRole('button', { name: 'Add task' }).click();
      }
      // Split: the API cannot know of the revocation, but the page's next refresh (6 s tokens
      // here) asks /api/auth/token, which answers 401.
      await pageC.waitForURL('**/sign-in?reason=session-ended**', { timeout: 15_000 });
      await pageC.getByText('Your session has ended. Sign in again to continue.').waitFor();
      const token = since(C.traffic, from, /\/api\/auth\/token$/);
      await waitForStatus(token);
      assert(token.some((e) => e.status === 401), '/api/auth/token answered 401');
      if (!env.split) {
        const posts = since(C.traffic, from, apiTasks).filter((e) => e.method === 'POST');
        await waitForStatus(posts);
        assertEqual(posts.map((e) => e.status), [401], 'the API refused the revoked session\'s token, no retry without a new token');
      }
      await run.shot(pageC, 'phone-signed-out');
    }, [pageC]);

    // US6.4 — the JWT is refreshed: before it expires, and once after a 401.
    const tab2 = await A.context.newPage();
    await run.step('a wrong current password is explained; the right one changes it', async () => {
      await pageA.getByRole('link', { name: 'Tasks' }).click();
      await pageA.waitForURL(/\/tasks$/);
      await waitForTaskCount(pageA, 3);
      await tab2.goto('/account');
      await tab2.getByLabel('Current password').fill('not the password');
      await tab2.getByLabel('New password', { exact: true }).fill('an even longer passphrase');
      await tab2.getByRole('button', { name: 'Change password' }).click();
      await tab2.getByText('Your current password is not right.').waitFor();
      await run.shot(tab2, 'account-wrong-current-password');
      await tab2.getByLabel('Current password').fill(ada.password);
      await tab2.getByRole('button', { name: 'Change password' }).click();
      await tab2.getByText('Password changed. Other devices were signed out.').waitFor();
      ada.password = 'an even longer passphrase';
    }, [pageA, tab2]);

    if (!env.split) {
      await run.step('after a 401 the page gets a new JWT once and retries the call', async () => {
        // The password change ended every session and gave this browser a new cookie: the first
        // tab's JWT names a revoked session. Its next call is refused, the page refreshes the
        // JWT with the new cookie, and the retried call succeeds.
        const from = A.traffic.length;
        await addTask(pageA, 'Added after the password change');
        const calls = since(A.traffic, from, /\/api\/auth\/token$|\/api\/[^/]+\/tasks$/).filter((e) => e.method !== 'OPTIONS');
        await waitForStatus(calls);
        assertEqual(
          calls.map((e) => `${e.method} ${new URL(e.url).pathname.replace(adaId, '{id}')} ${e.status}`),
          ['POST /api/{id}/tasks 401', 'GET /api/auth/token 200', 'POST /api/{id}/tasks 201'],
          'refused, refreshed, retried',
        );
        const [first, , retry] = calls;
        assert((await first.request.headerValue('authorization')) !== (await retry.request.headerValue('authorization')), 'the retry uses the new JWT');
        assert(pageA.url().endsWith('/tasks'), 'the user stays on the page');
        await run.shot(pageA, 'tasks-after-401-and-refresh');
      }, [pageA]);
    } else {
      await run.step('the page refreshes the JWT before it expires, without a 401', async () => {
        const from = A.traffic.length;
        await pageA.waitForTimeout(5000);
        const refreshes = since(A.traffic, from, /\/api\/auth\/token$/);
        await waitForStatus(refreshes);
        assert(refreshes.length >= 1 && refreshes.every((e) => e.status === 200), `the page refreshed its 6 s JWT on its own (${refreshes.length})`);
        await addTask(pageA, 'Added after the password change');
        const calls = since(A.traffic, from, apiTasks).filter((e) => e.method === 'POST');
        await waitForStatus(calls);
        assertEqual(calls.map((e) => e.status), [201], 'no 401 on the way');
        await run.shot(pageA, 'tasks-after-proactive-refresh');
      }, [pageA]);
    }

    await run.step('the dark theme', async () => {
      await pageA.emulateMedia({ colorScheme: 'dark' });
      await run.shot(pageA, 'tasks-dark');
      await pageA.emulateMedia({ colorScheme: 'light' });
    }, [pageA]);

    // Two-factor authentication: set up with the QR code's key, sign out, sign in with a code.
    const T = await newContext(browser, env, DESKTOP, problems);
    contexts.push(T.context);
    const pageT = T.page;
    const cleo = { name: 'Cleo Kant', email: `cleo.${tag}@example.com`, password: 'second factors matter' };
    await run.step('two-factor: set up on the account page, then sign in with a TOTP code', async () => {
      await pageT.goto('/sign-up');
      await pageT.getByLabel('Name').fill(cleo.name);
      await pageT.getByLabel('Email').fill(cleo.email);
      await pageT.getByLabel('Password', { exact: true }).fill(cleo.password);
      await submitPastRateLimit(pageT, pageT.getByRole('button', { name: 'Create account' }), /\/api\/auth\/sign-up\/email$/, () => pageT.waitForURL('**/tasks'));
      await pageT.goto('/account');
      await pageT.getByText('Off: your password alone signs you in.').waitFor();
      await pageT.getByRole('button', { name: 'Set up an authenticator app' }).click();
      await pageT.getByText('Enter your password.').waitFor();
      await pageT.locator('#two-factor-password').fill(cleo.password);
      await pageT.getByRole('button', { name: 'Set up an authenticator app' }).click();
      const keyText = pageT.locator('[data-totp-key]');
      await pageT.waitForFunction(() => document.querySelector('[data-totp-key]')?.textContent.length > 0);
      const key = await keyText.textContent();
      const qr = pageT.getByRole('img', { name: 'QR code of your authenticator key' });
      await pageT.waitForFunction(() => document.querySelector('[data-qr]')?.naturalWidth > 0);
      assert((await qr.getAttribute('src')).startsWith('data:image/svg+xml;base64,'), 'the QR code is drawn in the page');
      assertEqual(await pageT.locator('[data-backup-codes] li').count(), 10, 'ten backup codes are shown once');
      await run.shot(pageT, 'two-factor-setup');
      const step = Math.floor(Date.now() / 30_000);
      await pageT.getByLabel('Code from the app').fill(totpAt(key, step));
      await pageT.getByRole('button', { name: 'Turn on two-factor' }).click();
      await pageT.getByText('On: signing in asks for a code').waitFor();
      await pageT.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
      await pageT.waitForURL('**/sign-in?reason=signed-out');
      let verify = pageT.getByRole('button', { name: 'Verify' });
      for (let attempt = 0; attempt < 3; attempt += 1) {
        await signIn(pageT, cleo.email, cleo.password);
        const limited = pageT.getByText(/Too many attempts/);
        await Promise.race([verify.waitFor(), limited.waitFor()]);
        if (await verify.isVisible()) break;
        await new Promise((r) => setTimeout(r, 10_500)); // the sign-in rate limit's window (real time)
      }
      await pageT.getByText('Enter the 6-digit code from your authenticator app.').waitFor();
      await run.shot(pageT, 'two-factor-sign-in');
      // The set-up code is used (single use): the next step's code, within the one-step skew.
      await pageT.getByLabel('Code', { exact: true }).fill(totpAt(key, step + 1));
      await verify.click();
      await pageT.waitForURL(/\/tasks$/);
      await pageT.getByText(cleo.name, { exact: true }).waitFor();
      const me = await pageT.evaluate(async () => (await (await fetch('/api/auth/get-session')).json()).user);
      assert(me.twoFactorEnabled === true, 'the user has two-factor on');
    }, [pageT]);

    // Recovery pages and the rate-limit message.
    const D = await newContext(browser, env, DESKTOP, problems);
    contexts.push(D.context);
    const pageD = D.page;
    await run.step('forgotten password: the emailed link leads to a working reset page', async () => {
      await pageD.goto('/sign-in');
      await pageD.getByRole('link', { name: 'Forgot password?' }).click();
      await pageD.waitForURL('**/forgot-password');
      await pageD.getByLabel('Email').fill(ada.email);
      await pageD.getByRole('button', { name: 'Send reset link' }).click();
      await pageD.getByText('Check your email.').waitFor();
      await run.shot(pageD, 'forgot-password-sent');
      let mail;
      await eventually(() => (mail = mailTo(env, ada.email, 'reset-password')), 'the reset mail');
      await pageD.goto(mail.url);
      await pageD.waitForURL('**/reset-password');
      await pageD.getByLabel('New password', { exact: true }).fill('reset to something long');
      await pageD.getByLabel('Repeat the new password').fill('reset to something else');
      await pageD.getByRole('button', { name: 'Set new password' }).click();
      await pageD.getByText('The two passwords are not the same.').waitFor();
      await run.shot(pageD, 'reset-password-mismatch');
      await pageD.getByLabel('Repeat the new password').fill('reset to something long');
      await pageD.getByRole('button', { name: 'Set new password' }).click();
      await pageD.getByText('Your password is changed.').waitFor();
      await run.shot(pageD, 'reset-password-done');
    }, [pageD]);

    await run.step('too many sign-in attempts: the page says how long to wait', async () => {
      await pageD.goto('/sign-in');
      const limited = pageD.getByText(/Too many attempts\. Wait \d+ seconds?, then try again\./);
      for (let attempt = 0; attempt < 6 && !(await limited.isVisible()); attempt += 1) {
        await signIn(pageD, ada.email, ada.password); // the password before the reset
        await pageD.locator('[data-form-error]:not(:empty)').waitFor();
      }
      await limited.waitFor({ timeout: 1000 });
      await run.shot(pageD, 'sign-in-rate-limited');
    }, [pageD]);

    assertEqual(problems, [], 'no script error or CSP violation in any page');
  } finally {
    for (const context of contexts) await context.close();
  }
}
