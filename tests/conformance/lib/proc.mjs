// Child-process management for run.mjs: pick a free port, start a server, wait for its
// "listening on http://..." line, and make sure every child dies when the harness exits (also on failure).
import { spawn } from "node:child_process";
import { createServer } from "node:net";

const children = new Set();
let hooksInstalled = false;

function killAllSync() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
  children.clear();
}

function installHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAllSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, () => {
      killAllSync();
      process.exit(130);
    });
  }
  process.on("uncaughtException", (e) => {
    console.error(e);
    killAllSync();
    process.exit(1);
  });
  process.on("unhandledRejection", (e) => {
    console.error(e);
    killAllSync();
    process.exit(1);
  });
}

/** A port that was free a moment ago on 127.0.0.1 (bind port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server process (env values that are undefined are removed from the inherited environment) and resolves once it printed `listening on <url>` on stdout.
 * @returns {Promise<{url: string, child: import("node:child_process").ChildProcess, stop: () => Promise<void>, output: () => string}>}
 */
export function startServer({ label, command, args, env, cwd, timeoutMs = 30000 }) {
  installHooks();
  return new Promise((resolve, reject) => {
    const fullEnv = { ...process.env, ...env };
    for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k];
    const child = spawn(command, args, { cwd, env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let out = "";
    let err = "";
    let done = false;
    const output = () => `--- ${label} stdout ---\n${out.slice(-4000)}\n--- ${label} stderr ---\n${err.slice(-4000)}`;
    const stop = () =>
      new Promise((res) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          children.delete(child);
          res();
          return;
        }
        const t = setTimeout(() => child.kill("SIGKILL"), 3000);
        child.once("exit", () => {
          clearTimeout(t);
          children.delete(child);
          res();
        });
        child.kill("SIGTERM");
      });
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      stop().then(() => reject(new Error(`${label} did not print "listening on" within ${timeoutMs} ms\n${output()}`)));
    }, timeoutMs);
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (done) return;
      const m = /listening on (https?:\/\/[^\s]+)/i.exec(out);
      if (m) {
        done = true;
        clearTimeout(timer);
        resolve({ url: m[1].replace(/\/+$/, ""), child, stop, output });
      }
    });
    child.stderr.on("data", (chunk) => {
      err += chunk;
    });
    child.on("error", (e) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`${label} failed to start: ${e.message}`));
    });
    child.on("exit", (code, signal) => {
      children.delete(child);
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${label} exited (${code ?? signal}) before it was ready\n${output()}`));
    });
  });
}

export { killAllSync };
