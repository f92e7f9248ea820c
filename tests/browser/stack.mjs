#!/usr/bin/env node
// The seed's own stack on Sigil, end to end in headless Chromium: three processes on three ports.
//
//   node tests/browser/stack.mjs --sigil target/debug/sigil --python .venv/bin/python
//
// * Sigil (`sigil serve`, fresh SQLite database, Redis for revocations);
// * the FastAPI backend (examples/fastapi-backend, uvicorn) guarded by the Python sigil-guard,
//   verifying through Sigil's JWKS and following its Redis revocation feed;
// * the Next.js app (examples/nextjs, already built with `next build`, run with `next start`),
//   which forwards /api/auth/* to Sigil and calls the backend with Authorization: Bearer.
//
// Chromium signs up through the Next.js pages (the official better-auth client), adds tasks
// through the FastAPI backend, reloads, keeps a short-lived JWT fresh without a 401, signs out;
// the old JWT is then refused by FastAPI at once; a second user's JWT on the first user's
// user_id gets 403. Screenshots in target/screenshots/stack/; logs in target/browser-logs/.
// Needs Redis (SIGIL_TEST_REDIS_URL, default redis://127.0.0.1:6379).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { assert, assertEqual, CHROMIUM_ARGS, recordTraffic, Run } from './lib/harness.mjs';
import { freePort } from './lib/servers.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function parseArgs(argv) {
  const args = { sigil: null, python: resolve(root, '.venv/bin/python') };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--sigil') args.sigil = resolve(argv[++i]);
    else if (argv[i] === '--python') args.python = resolve(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.sigil) throw new Error('usage: stack.mjs --sigil <sigil binary> [--python <venv python>]');
  return args;
}

/** The environment without any setting of the caller's shell that the processes read. */
function cleanEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('SIGIL_') || ['DATABASE_URL', 'API_URL', 'CORS_ORIGINS', 'PORT'].includes(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Starts a process; resolves once `ready` matches its output (stdout or stderr). */
function start(name, command, args, { env, cwd, ready, logFile }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env: cleanEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const log = createWriteStream(logFile);
    let seen = '';
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`${name} did not start within 60 s (see ${logFile})`)), 60_000);
    function fail(error) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    }
    const onData = (chunk) => {
      log.write(chunk);
      if (settled) return;
      seen += chunk;
      const match = ready.exec(seen);
      if (match) {
        settled = true;
        clearTimeout(timer);
        resolvePromise({ match, stop: () => stop(child) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => {
      running.delete(child);
      log.end();
      fail(new Error(`${name} exited (${code ?? signal}) before it was ready (see ${logFile})`));
    });
    child.on('error', fail);
  });
}

function stop(child) {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolvePromise();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    child.kill('SIGTERM');
  });
}

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

async function deploy({ sigil, python, logDir }) {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-stack-'));
  const redis = process.env.SIGIL_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
  const stops = [];
  const nextPort = await freePort();
  const apiPort = await freePort();
  const webUrl = `http://127.0.0.1:${nextPort}`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const cleanup = async () => {
    for (const s of stops.reverse()) await s();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const auth = await start('sigil serve', sigil, ['serve'], {
      env: {
        SIGIL_ADDR: '127.0.0.1:0',
        DATABASE_URL: `sqlite://${join(dir, 'sigil.db')}`,
        SIGIL_SECRET: randomBytes(32).toString('base64url'),
        SIGIL_REDIS_URL: redis,
        // The browser reaches Sigil through the Next.js app's origin (proxy.js).
        SIGIL_TRUSTED_ORIGINS: webUrl,
        // Every request reaches Sigil from the Next.js server's address: no per-client limits here.
        SIGIL_RATE_LIMIT: 'off',
        // Short-lived JWTs, so the page renews them (every 4 s) during the test.
        SIGIL_JWT_TTL: '6s',
        SIGIL_LOG: 'sigil=info,warn',
        SIGIL_LOG_FORMAT: 'text',
      },
      ready: /Sigil listening on (\S+)/,
      logFile: join(logDir, 'stack-sigil.log'),
    });
    stops.push(auth.stop);
    const sigilUrl = auth.match[1].replace(/\/$/, '');
    const api = await start('FastAPI backend', python, ['-m', 'uvicorn', 'tasks_api.main:app', '--host', '127.0.0.1', '--port', String(apiPort)], {
      cwd: resolve(root, 'examples/fastapi-backend'),
      env: {
        SIGIL_JWKS_URL: `${sigilUrl}/api/auth/jwks`,
        SIGIL_REDIS_URL: redis,
        DATABASE_URL: `sqlite:///${join(dir, 'tasks.db')}`,
        CORS_ORIGINS: webUrl,
      },
      ready: /Application startup complete/,
      logFile: join(logDir, 'stack-fastapi.log'),
    });
    stops.push(api.stop);
    const nextDir = resolve(root, 'examples/nextjs');
    const web = await start('Next.js app', process.execPath, [join(nextDir, 'node_modules/next/dist/bin/next'), 'start', '-H', '127.0.0.1', '-p', String(nextPort)], {
      cwd: nextDir,
      env: { SIGIL_URL: sigilUrl, API_URL: apiUrl, NEXT_TELEMETRY_DISABLED: '1' },
      ready: /Ready in|started server on/,
      logFile: join(logDir, 'stack-nextjs.log'),
    });
    stops.push(web.stop);
    return { sigilUrl, apiUrl, webUrl, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Calls the FastAPI backend from the test itself (no browser), as an attacker with a token would. */
async function callApi(env, method, path, jwt, body) {
  const response = await fetch(`${env.apiUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${jwt}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, challenge: response.headers.get('www-authenticate'), json };
}

async function scenario(browser, env, run) {
  const context = await browser.newContext();
  const traffic = recordTraffic(context);
  const errors = [];
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(`${m.text()} (${m.location().url})`));
  const apiCalls = () => traffic.filter((t) => t.url.startsWith(env.apiUrl) && t.method !== 'OPTIONS');
  const bearerOf = (entry) => entry.request.headers().authorization?.replace(/^Bearer /, '');
  let alice;

  await run.step('the app forwards /api/auth/* to Sigil, and nothing else', async () => {
    const ok = await fetch(`${env.webUrl}/api/auth/ok`);
    assertEqual([ok.status, await ok.json()], [200, { ok: true }], "Sigil's /api/auth/ok through the app");
    const jwks = await (await fetch(`${env.webUrl}/api/auth/jwks`)).json();
    assert(jwks.keys.length > 0, 'the JWKS through the app');
    for (const path of ['/api/auth/%2e%2e/%2e%2e/api/auth-less/tasks', '/api/auth/..%2f..%2fsign-in']) {
      const r = await fetch(`${env.webUrl}${path}`, { redirect: 'manual' });
      assert(r.status === 404 || r.status === 307, `${path}: ${r.status}`);
      assert(!(r.headers.get('content-type') ?? '').includes('application/json') || r.status !== 200, `${path} not forwarded`);
    }
  });

  await run.step('a signed-out visitor is sent to sign-in by the middleware', async () => {
    await page.goto(`${env.webUrl}/tasks`);
    await page.waitForURL(/\/sign-in\?next=%2Ftasks$/);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await run.shot(page, 'sign-in');
  }, [page]);

  await run.step('signs up with the official better-auth client (through the app origin)', async () => {
    await page.getByRole('link', { name: 'Sign up' }).click();
    await page.getByLabel('Name').fill('Ada');
    await page.getByLabel('Email').fill(`ada-${Date.now()}@example.com`);
    await page.getByLabel('Password').fill('a long passphrase');
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page.waitForURL(`${env.webUrl}/tasks`);
    await page.getByRole('heading', { name: "Ada's tasks" }).waitFor();
    const authCalls = traffic.filter((t) => t.url.includes('/api/auth/'));
    assert(authCalls.length > 0 && authCalls.every((t) => t.url.startsWith(env.webUrl)), 'every /api/auth call went to the app origin');
    await run.shot(page, 'tasks-empty');
  }, [page]);

  await run.step('adds three tasks through the FastAPI backend, with Bearer and no cookie', async () => {
    for (const title of ['Write the README', 'Ship the stack', 'Celebrate']) {
      await page.getByLabel('Title').fill(title);
      await page.getByRole('button', { name: 'Add task' }).click();
      await page.getByText(title, { exact: true }).waitFor();
    }
    // A controlled checkbox: it changes once the API has answered.
    await page.getByRole('checkbox').first().click();
    await page.waitForFunction(() => document.querySelectorAll('.done').length === 1);
    const calls = apiCalls();
    assert(calls.length >= 5, `calls to the API: ${calls.length}`);
    for (const call of calls) {
      assert(bearerOf(call), `${call.method} ${call.url} carries a bearer token`);
      assert(!call.request.headers().cookie, `${call.method} ${call.url} carries no cookie`);
    }
    assertEqual(calls.filter((c) => c.method === 'POST').map((c) => c.status), [201, 201, 201], 'three tasks created');
    alice = { jwt: bearerOf(calls.at(-1)), id: claimsOf(bearerOf(calls.at(-1))).sub };
    await run.shot(page, 'tasks-three');
  }, [page]);

  await run.step('reloads: the tasks are still there, one completed', async () => {
    await page.reload();
    await page.getByText('Celebrate', { exact: true }).waitFor();
    assertEqual(await page.locator('.tasks li').count(), 3, 'three tasks');
    assertEqual(await page.locator('.done').count(), 1, 'one completed');
  }, [page]);

  await run.step('keeps its 6-second JWT fresh before it expires, without a 401', async () => {
    const tokens = () => traffic.filter((t) => t.url.endsWith('/api/auth/token') && t.status === 200).length;
    const before = tokens();
    const deadline = Date.now() + 15_000;
    while (tokens() < before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert(tokens() >= before + 2, `two renewals in 15 s (got ${tokens() - before})`);
    await page.getByLabel('Title').fill('After a renewal');
    await page.getByRole('button', { name: 'Add task' }).click();
    await page.getByText('After a renewal', { exact: true }).waitFor();
    assert(!apiCalls().some((c) => c.status === 401), 'no call was refused');
    const last = apiCalls().at(-1);
    assert(bearerOf(last) !== alice.jwt, 'the last call used a renewed JWT');
    alice.jwt = bearerOf(last);
  }, [page]);

  await run.step('signs out: FastAPI refuses the old JWT at once', async () => {
    assertEqual((await callApi(env, 'GET', `/api/${alice.id}/tasks`, alice.jwt)).status, 200, 'valid before');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/sign-in$/);
    const after = await callApi(env, 'GET', `/api/${alice.id}/tasks`, alice.jwt);
    assertEqual(after.status, 401, 'the JWT of the signed-out session');
    assert(/the session was signed out/.test(after.challenge ?? ''), `revoked, not expired: ${after.challenge}`);
    assertEqual(after.json, { code: 'INVALID_TOKEN', message: 'The access token is no longer valid' }, 'body');
    await page.goto(`${env.webUrl}/tasks`);
    await page.waitForURL(/\/sign-in\?next=%2Ftasks$/);
    await run.shot(page, 'signed-out');
  }, [page]);

  const second = await browser.newContext();
  const bobTraffic = recordTraffic(second);
  const bobPage = await second.newPage();
  bobPage.on('pageerror', (e) => errors.push(String(e)));
  await run.step("a second user's JWT on the first user's user_id gets 403", async () => {
    await bobPage.goto(`${env.webUrl}/sign-up`);
    await bobPage.getByLabel('Name').fill('Bob');
    await bobPage.getByLabel('Email').fill(`bob-${Date.now()}@example.com`);
    await bobPage.getByLabel('Password').fill('another long passphrase');
    await bobPage.getByRole('button', { name: 'Sign up' }).click();
    await bobPage.getByText('No tasks yet.').waitFor();
    // The page can show its empty list before Playwright has delivered the response event of the
    // call that filled it: wait for that event (a poll for an event, with a deadline).
    let call;
    for (let waited = 0; !call && waited < 10000; waited += 100) {
      call = bobTraffic.find((t) => t.url.startsWith(env.apiUrl) && t.method === 'GET' && t.status === 200);
      if (!call) await new Promise((r) => setTimeout(r, 100));
    }
    assert(call, "the second user's tasks page called the FastAPI backend with a JWT");
    const bob = call.request.headers().authorization.replace(/^Bearer /, '');
    assert(claimsOf(bob).sub !== alice.id, 'two users');
    for (const [method, body] of [['GET'], ['POST', { title: 'pwned' }]]) {
      const r = await callApi(env, method, `/api/${alice.id}/tasks`, bob, body);
      assertEqual(r.status, 403, `${method} on the first user's tasks`);
      assertEqual(r.json, { code: 'FORBIDDEN', message: 'This resource belongs to another user' }, 'body');
    }
    assertEqual((await callApi(env, 'GET', `/api/${claimsOf(bob).sub}/tasks`, bob)).json, [], 'his own list is empty');
    await run.shot(bobPage, 'second-user');
  }, [bobPage]);

  assertEqual(errors, [], 'no script errors on any page');
  await context.close();
  await second.close();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(args.sigil)) throw new Error(`no sigil binary at ${args.sigil}`);
  if (!existsSync(args.python)) throw new Error(`no Python at ${args.python} (scripts/test creates .venv)`);
  if (!existsSync(resolve(root, 'examples/nextjs/.next/BUILD_ID'))) throw new Error('examples/nextjs is not built: (cd examples/nextjs && npx next build)');
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  const logDir = resolve(root, 'target/browser-logs');
  mkdirSync(logDir, { recursive: true });
  const started = Date.now();
  const env = await deploy({ ...args, logDir });
  console.log(`stack: Next.js at ${env.webUrl}, FastAPI at ${env.apiUrl}, Sigil at ${env.sigilUrl}`);
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  const run = new Run('stack', resolve(root, 'target/screenshots'));
  let failed = false;
  try {
    await scenario(browser, env, run);
  } catch (error) {
    failed = true;
    console.error(`\nstack FAILED: ${error.stack || error}`);
    console.error(`  logs: ${logDir}/stack-*.log; screenshots: ${run.dir}`);
  } finally {
    await browser.close();
    await env.stop();
  }
  const passed = run.steps.filter((s) => s.ok).length;
  console.log(`\nstack: ${passed} passed, ${run.steps.length - passed + (failed && passed === run.steps.length ? 1 : 0)} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
