// Starting and stopping `sigil` processes for the browser tests: one-process (`sigil serve`) and
// split (`sigil serve-auth` + `sigil serve-api --jwks-url`) deployments, each on fresh databases.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const running = new Set();

/** Kills whatever is still running (also on an abrupt exit of the runner). */
export function killAll(signal = 'SIGKILL') {
  for (const child of running) {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
process.on('exit', () => killAll());
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The environment without any Sigil setting of the caller's shell. */
function cleanEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('SIGIL_') || key === 'DATABASE_URL' || key === 'BETTER_AUTH_SECRET') continue;
    env[key] = value;
  }
  return { ...env, SIGIL_LOG: 'sigil=info,warn', ...extra };
}

/**
 * Starts `sigil <command>` and resolves with `{url, stop}` once it prints its URL.
 * Output goes to `logFile`.
 */
function start(binary, command, env, logFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [command], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const log = createWriteStream(logFile);
    let buffered = '';
    let settled = false;
    const timeout = setTimeout(() => fail(new Error(`sigil ${command} did not start within 20 s (see ${logFile})`)), 20_000);
    function fail(error) {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      child.kill('SIGKILL');
      reject(error);
    }
    child.stdout.on('data', (chunk) => {
      log.write(chunk);
      if (settled) return;
      buffered += chunk;
      const match = /Sigil listening on (\S+)/.exec(buffered);
      if (match) {
        settled = true;
        clearTimeout(timeout);
        resolve({ url: match[1].replace(/\/$/, ''), stop: () => stop(child) });
      }
    });
    child.stderr.on('data', (chunk) => log.write(chunk));
    child.on('exit', (code, signal) => {
      running.delete(child);
      log.end();
      fail(new Error(`sigil ${command} exited (${code ?? signal}) before listening (see ${logFile})`));
    });
    child.on('error', fail);
  });
}

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function secret() {
  return randomBytes(32).toString('base64url');
}

/**
 * Starts a deployment. Returns `{name, authUrl, apiUrl, split, mailFile, jwtTtl, stop}`.
 * * `one-process`: `sigil serve` — identity, tasks API and UI on one origin.
 * * `split`: `sigil serve-auth` (identity + UI) and `sigil serve-api` (tasks API, verifying
 *   through the identity service's JWKS) on two ports, each with its own database; CORS on the
 *   API allows the UI's origin only. JWTs live 6 s here, so the page refreshes them
 *   proactively (every 4 s) all along.
 * With `localhost`, the identity service (and UI) listens on a port chosen here and its base URL
 * is `http://localhost:<port>`, the origin the browser uses (WebAuthn refuses IP addresses).
 */
export async function deploy(name, { binary, logDir, localhost = false }) {
  mkdirSync(logDir, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), `sigil-browser-${name}-`));
  const mailFile = join(dir, 'mail.jsonl');
  const common = { SIGIL_MAIL_FILE: mailFile, SIGIL_LOG_FORMAT: 'text' };
  const stops = [];
  const cleanup = async () => {
    for (const s of stops.reverse()) await s();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // The identity service's address and public URL.
    let addr = { SIGIL_ADDR: '127.0.0.1:0' };
    let publicUrl = null;
    if (localhost) {
      const port = await freePort();
      publicUrl = `http://localhost:${port}`;
      addr = { SIGIL_ADDR: `127.0.0.1:${port}`, SIGIL_BASE_URL: publicUrl };
    }
    if (name === 'one-process') {
      const server = await start(
        binary,
        'serve',
        { ...common, ...addr, DATABASE_URL: `sqlite://${join(dir, 'sigil.db')}`, SIGIL_SECRET: secret() },
        join(logDir, `${name}-serve.log`),
      );
      stops.push(server.stop);
      const url = publicUrl || server.url;
      return { name, authUrl: url, apiUrl: url, split: false, mailFile, jwtTtl: 900, stop: cleanup };
    }
    if (name === 'split') {
      const apiPort = await freePort();
      const apiUrl = `http://127.0.0.1:${apiPort}`;
      const auth = await start(
        binary,
        'serve-auth',
        {
          ...common,
          ...addr,
          DATABASE_URL: `sqlite://${join(dir, 'auth.db')}`,
          SIGIL_SECRET: secret(),
          SIGIL_API_URL: apiUrl,
          SIGIL_JWT_TTL: '6s',
        },
        join(logDir, `${name}-serve-auth.log`),
      );
      stops.push(auth.stop);
      const api = await start(
        binary,
        'serve-api',
        {
          SIGIL_ADDR: `127.0.0.1:${apiPort}`,
          DATABASE_URL: `sqlite://${join(dir, 'api.db')}`,
          SIGIL_JWKS_URL: `${auth.url}/api/auth/jwks`,
          SIGIL_CORS_ORIGINS: publicUrl || auth.url,
        },
        join(logDir, `${name}-serve-api.log`),
      );
      stops.push(api.stop);
      return { name, authUrl: publicUrl || auth.url, apiUrl: api.url, split: true, mailFile, jwtTtl: 6, stop: cleanup };
    }
    throw new Error(`unknown topology ${name}`);
  } catch (error) {
    await cleanup();
    throw error;
  }
}
