#!/usr/bin/env node
// Credential stuffing against a real `sigil serve`: what legitimate sign-ins from other addresses
// see while hundreds of wrong-password sign-ins run at once (issue 10 item 4).
//
//   node bench/stuffing/run.mjs --sigil target/debug/sigil [--rate-limit on|off] [--attackers 400]
//        [--attack-addresses 1] [--duration 20] [--legit-rate 5] [--nice -19] [--extra "--flag v"]
//
// Starts the binary on 127.0.0.1:0 with a fresh SQLite database in a temporary directory and
// Sigil's default argon2id cost (19 MiB, t=2), signs up 20 legitimate users, then for `--duration`
// seconds (after 2 s of warm-up) runs `--attackers` concurrent loops of wrong-password sign-ins,
// each for an email never tried before (credential stuffing: unknown emails, each costing a dummy
// hash), from `--attack-addresses` loopback addresses (127.0.100.1, 127.0.100.2, ...). Meanwhile
// legitimate users sign in with their right password at `--legit-rate` per second (open loop), on
// a worker thread of their own so that the attackers' event loop does not delay them: half of
// them from the address each user signed up from (127.0.1.x: "known"), half from an address never
// seen before ("new device", 127.0.3.x and up). Prints one JSON object: status counts and latency
// percentiles of the attackers and of both kinds of legitimate sign-in.
// `--nice -19` (root) raises the priority of the harness's autogroup (itself and the server) on a
// machine shared with other work; run it under `setsid` so that the group is its own.
// Needs only Node 20 (no npm packages). Loopback only; the server is stopped at the end.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const PASSWORD = "correct horse battery staple";
const LEGIT_USERS = 20;

const agents = new Map();
function agentFor(localAddress) {
  if (!agents.has(localAddress)) {
    agents.set(localAddress, new http.Agent({ keepAlive: true, maxSockets: 1024, localAddress }));
  }
  return agents.get(localAddress);
}

function post(base, path, body, localAddress) {
  const data = JSON.stringify(body);
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: "POST",
        agent: agentFor(localAddress),
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode, ms: performance.now() - started }));
      },
    );
    req.on("error", () => resolve({ status: "error", ms: performance.now() - started }));
    req.end(data);
  });
}

const tally = () => ({ statuses: {}, ms: [], hashedMs: [] });
const record = (t, r) => {
  t.statuses[r.status] = (t.statuses[r.status] ?? 0) + 1;
  t.ms.push(r.ms);
  // Answers that needed a hash (200 and 401), apart from refusals (429, 503).
  if (r.status === 200 || r.status === 401) t.hashedMs.push(r.ms);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!isMainThread) {
  // The legitimate users: one sign-in every 1/rate seconds, each from its own address.
  const { base: href, rate, seconds } = workerData;
  const base = new URL(href);
  const known = tally();
  const fresh = tally();
  const calls = [];
  const end = performance.now() + seconds * 1000;
  for (let i = 0; performance.now() < end; i++) {
    const user = Math.floor(i / 2) % LEGIT_USERS;
    const newDevice = i % 2 === 1;
    const from = newDevice ? `127.0.${3 + Math.floor(i / 250)}.${1 + (i % 250)}` : `127.0.1.${1 + user}`;
    const body = { email: `legit${user}@example.com`, password: PASSWORD };
    const t = newDevice ? fresh : known;
    calls.push(post(base, "/api/auth/sign-in/email", body, from).then((r) => record(t, r)));
    await sleep(1000 / rate);
  }
  await Promise.all(calls);
  parentPort.postMessage({ known, fresh });
} else {
  const args = Object.fromEntries(
    process.argv.slice(2).reduce((pairs, a, i, all) => {
      if (a.startsWith("--")) pairs.push([a.slice(2), all[i + 1]]);
      return pairs;
    }, []),
  );
  const SIGIL = args.sigil ?? "target/debug/sigil";
  const RATE_LIMIT = args["rate-limit"] ?? "off";
  const ATTACKERS = Number(args.attackers ?? 400);
  const ATTACK_ADDRESSES = Number(args["attack-addresses"] ?? 1);
  const SECONDS = Number(args.duration ?? 20);
  const WARMUP = 2000;
  const LEGIT_RATE = Number(args["legit-rate"] ?? 5);
  const EXTRA = (args.extra ?? "").split(" ").filter(Boolean);
  if (args.nice) writeFileSync("/proc/self/autogroup", String(args.nice));

  const dir = mkdtempSync(join(tmpdir(), "sigil-stuffing-"));
  const server = spawn(
    SIGIL,
    [
      "serve",
      "--addr", "127.0.0.1:0",
      "--database-url", `sqlite://${join(dir, "sigil.db")}`,
      "--secret", "stuffing-bench-secret-0123456789-abcdefghijkl",
      "--rate-limit", RATE_LIMIT,
      ...EXTRA,
    ],
    { env: { ...process.env, SIGIL_LOG: "error" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  // Kept for a failed start only: under the flood the server logs every refused request.
  let stderr = "";
  server.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4096);
  });
  process.on("exit", () => {
    server.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  });
  process.on("SIGINT", () => process.exit(130));

  const base = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m) resolve(new URL(m[1]));
    });
    server.on("exit", (code) => reject(new Error(`sigil exited with ${code}: ${out}${stderr}`)));
  });

  for (let i = 0; i < LEGIT_USERS; i++) {
    // Each user from its own address (under the per-address limit of 3 per 10 s).
    const body = { name: `User ${i}`, email: `legit${i}@example.com`, password: PASSWORD };
    const r = await post(base, "/api/auth/sign-up/email", body, `127.0.1.${1 + i}`);
    if (r.status !== 200) throw new Error(`sign-up ${i}: ${r.status}`);
  }

  const attack = tally();
  const t0 = performance.now();
  const end = t0 + WARMUP + SECONDS * 1000;
  let attempt = 0;
  async function attacker(n) {
    const k = n % ATTACK_ADDRESSES;
    const from = `127.0.${100 + Math.floor(k / 250)}.${1 + (k % 250)}`;
    while (performance.now() < end) {
      const body = { email: `stuffed${attempt++}@example.com`, password: "hunter2-from-a-leak" };
      const r = await post(base, "/api/auth/sign-in/email", body, from);
      if (performance.now() > t0 + WARMUP) record(attack, r);
    }
  }
  const attackers = Array.from({ length: ATTACKERS }, (_, n) => attacker(n));
  await sleep(WARMUP);
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { base: base.href, rate: LEGIT_RATE, seconds: SECONDS },
  });
  const legit = await new Promise((resolve, reject) => {
    worker.on("message", resolve);
    worker.on("error", reject);
  });
  await Promise.all(attackers);

  const percentiles = (values) => {
    const ms = [...values].sort((a, b) => a - b);
    const q = (p) => (ms.length ? Math.round(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]) : null);
    return { p50_ms: q(0.5), p99_ms: q(0.99), max_ms: q(1) };
  };
  const summary = (t) => ({
    requests: t.ms.length,
    statuses: t.statuses,
    ...percentiles(t.ms),
    hashed: percentiles(t.hashedMs),
  });
  console.log(
    JSON.stringify({
      sigil: SIGIL,
      rate_limit: RATE_LIMIT,
      extra: EXTRA.join(" "),
      attackers: ATTACKERS,
      attack_addresses: ATTACK_ADDRESSES,
      seconds: SECONDS,
      legit_known_address: summary(legit.known),
      legit_new_device: summary(legit.fresh),
      attack: summary(attack),
    }),
  );
  for (const a of agents.values()) a.destroy();
  process.exit(0);
}
