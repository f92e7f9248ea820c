#!/usr/bin/env node
// Entry point of the client-conformance harness.
//
//   node tests/conformance/run.mjs --sigil target/debug/sigil      # Better Auth vs Sigil, exit 0/1
//   node tests/conformance/run.mjs --only-better-auth              # Better Auth alone (harness self-check)
//   node tests/conformance/run.mjs --only-better-auth --catalogue  # also regenerate BETTER-AUTH-OBSERVED.md
//
// Options: --scenario NAME (repeatable; default: all), --out DIR (default tests/conformance/out),
//          --verbose (print every step), --known FILE (default known-differences.json).
//
// For every scenario a fresh server is started (Better Auth via ba-server.mjs; Sigil via
// `<sigil> serve --addr 127.0.0.1:PORT --base-url http://127.0.0.1:PORT --database-url sqlite://...`),
// the official client runs the scenario's flow against it, and the server is stopped. Transcripts go to
// out/better-auth.json and out/sigil.json, raw (redacted) exchanges to out/*-exchanges.json.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compareTranscripts, loadKnown, printComparison } from "./compare.mjs";
import { renderCatalogue } from "./lib/catalogue.mjs";
import { freePort, killAllSync, startServer } from "./lib/proc.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));

// The harness's dependencies (better-auth, jose) are pinned in package-lock.json; install them on first use
// so that a fresh checkout (or CI machine) needs nothing but Node and npm.
if (!existsSync(join(HERE, "node_modules", "better-auth", "package.json"))) {
  console.log("conformance: installing the harness's npm dependencies (npm ci)");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: HERE, stdio: "inherit" });
  if (r.status !== 0) {
    console.error("conformance: npm ci failed");
    process.exit(2);
  }
}
const { EXTRA_SCENARIOS, SCENARIOS, TRUSTED_EXTRA_ORIGIN, runScenario } = await import("./client-flow.mjs");
const SECRET = "sigil-conformance-secret-0123456789abcdefghijklmnop";
const BA_VERSION = JSON.parse(readFileSync(join(HERE, "node_modules/better-auth/package.json"), "utf8")).version;

const { values } = parseArgs({
  options: {
    sigil: { type: "string" },
    "only-better-auth": { type: "boolean", default: false },
    scenario: { type: "string", multiple: true },
    out: { type: "string", default: join(HERE, "out") },
    known: { type: "string", default: join(HERE, "known-differences.json") },
    catalogue: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    "keep-tmp": { type: "boolean", default: false },
  },
});

const started = Date.now();
// A hard ceiling for the whole run, so that a hung server can never hang the project's test script.
const RUN_TIMEOUT_MS = 240000;
setTimeout(() => {
  console.error(`conformance: run exceeded ${RUN_TIMEOUT_MS / 1000} s; stopping every server`);
  killAllSync();
  process.exit(1);
}, RUN_TIMEOUT_MS).unref();
const outDir = resolve(values.out);
mkdirSync(outDir, { recursive: true });
const sigilPath = values["only-better-auth"] ? undefined : values.sigil && resolve(values.sigil);
if (sigilPath && !existsSync(sigilPath)) {
  console.error(`conformance: sigil binary not found: ${sigilPath}`);
  process.exit(2);
}
const scenarioNames = values.scenario ?? Object.keys(SCENARIOS);
for (const s of scenarioNames) {
  if (!SCENARIOS[s] && !EXTRA_SCENARIOS[s]) {
    console.error(`conformance: unknown scenario ${s}; known: ${[...Object.keys(SCENARIOS), ...Object.keys(EXTRA_SCENARIOS)].join(", ")}`);
    process.exit(2);
  }
}
const tmpRoot = mkdtempSync(join(tmpdir(), "sigil-conformance-"));
process.on("exit", () => {
  if (!values["keep-tmp"]) rmSync(tmpRoot, { recursive: true, force: true });
});

/**
 * The base URL a server of `scenarioDef` is started with: http://127.0.0.1:PORT, or http://localhost:PORT for
 * scenarios marked `localhost` (WebAuthn: browsers, and Sigil, refuse an IP address as the relying party id).
 */
function baseUrl(port, scenarioDef) {
  return `http://${scenarioDef.localhost ? "localhost" : "127.0.0.1"}:${port}`;
}

/** How to start each target for one scenario. */
const TARGETS = {
  "better-auth": (port, dir, scenarioDef) => ({
    command: process.execPath,
    args: [join(HERE, "ba-server.mjs"), "--addr", `127.0.0.1:${port}`, "--base-url", baseUrl(port, scenarioDef), ...(scenarioDef.baArgs ?? [])],
    cwd: HERE,
  }),
  sigil: (port, dir, scenarioDef) => ({
    command: sigilPath,
    args: [
      "serve",
      "--addr",
      `127.0.0.1:${port}`,
      "--base-url",
      baseUrl(port, scenarioDef),
      "--database-url",
      `sqlite://${join(dir, "sigil.db")}?mode=rwc`,
      "--secret",
      SECRET,
    ],
    cwd: dir,
  }),
};

// Time travel (scenarios marked `faketime`): the server runs with Debian's libfaketime preloaded, reading
// its clock offset from a file in its directory on every call (no cache), so the flow can move the
// server's wall clock forward while it runs. Monotonic clocks stay real (timers and timeouts are
// unaffected). A missing libfaketime is an error, never a skipped scenario.
const LIBFAKETIME = process.env.SIGIL_LIBFAKETIME ?? "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
function faketimeEnv(dir) {
  if (!existsSync(LIBFAKETIME)) {
    throw new Error(`libfaketime not found at ${LIBFAKETIME} (apt-get install libfaketime, or set SIGIL_LIBFAKETIME)`);
  }
  const file = join(dir, "faketime.rc");
  writeFileSync(file, "+0h\n");
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: "1", DONT_FAKE_MONOTONIC: "1" };
}

/**
 * Makes `email` an administrator out of band: `sigil users set-role` on Sigil's database (what an operator
 * does), or the reference server's harness-only route (its memory adapter has no other way in).
 */
async function promote(target, origin, dir, email, role) {
  if (target === "sigil") {
    const r = spawnSync(
      sigilPath,
      ["users", "set-role", email, role, "--database-url", `sqlite://${join(dir, "sigil.db")}?mode=rwc`],
      { cwd: dir, encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`sigil users set-role failed: ${r.stderr}`);
    return;
  }
  const res = await fetch(`${origin}/__harness/promote`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, role }),
  });
  if (res.status !== 200) throw new Error(`promote on ${target}: ${res.status}`);
}

/** Runs the given scenarios against one target, one fresh server each; returns {transcript, exchanges}. */
async function runTarget(target, names) {
  const transcript = { target, betterAuthVersion: target === "better-auth" ? BA_VERSION : undefined, scenarios: {} };
  const exchanges = {};
  for (const name of names) {
    const def = SCENARIOS[name] ?? EXTRA_SCENARIOS[name];
    const dir = mkdtempSync(join(tmpRoot, `${target}-${name}-`));
    const mailFile = join(dir, "mail.jsonl");
    const port = await freePort();
    const spec = TARGETS[target](port, dir, def);
    const env = {
      ...def.env,
      ...(def.faketime ? faketimeEnv(dir) : {}),
      SIGIL_MAIL_FILE: mailFile,
      SIGIL_SECRET: SECRET,
      SIGIL_TRUSTED_ORIGINS: TRUSTED_EXTRA_ORIGIN,
      RUST_LOG: process.env.RUST_LOG ?? "warn",
    };
    const t0 = Date.now();
    let server;
    try {
      server = await startServer({ label: `${target} (${name})`, ...spec, env });
    } catch (e) {
      console.error(`conformance: ${e.message}`);
      transcript.scenarios[name] = {
        steps: [],
        assertions: [{ name: `${name}/server started`, ok: false, detail: e.message.split("\n")[0] }],
      };
      continue;
    }
    const announced = new URL(server.url);
    if (announced.port !== String(port)) console.error(`conformance: ${target} announced ${server.url}, expected port ${port}`);
    const origin = new URL(baseUrl(port, def)).origin;
    try {
      const res = await runScenario({
        origin,
        mailFile,
        scenario: name,
        log: values.verbose ? (l) => console.log(`[${target}]${l}`) : undefined,
        travel: def.faketime ? (hours) => writeFileSync(join(dir, "faketime.rc"), `+${hours}h\n`) : undefined,
        promote: (email, role) => promote(target, origin, dir, email, role),
      });
      transcript.scenarios[name] = { steps: res.transcript.steps, assertions: res.transcript.assertions };
      exchanges[name] = res.exchanges;
      const failed = res.transcript.assertions.filter((a) => !a.ok).length;
      console.log(
        `conformance: ${target} ${name}: ${res.transcript.steps.length} steps, ${res.transcript.assertions.length - failed}/${res.transcript.assertions.length} assertions ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
      );
    } finally {
      await server.stop();
    }
  }
  return { transcript, exchanges };
}

let exitCode = 0;
try {
  const targets = ["better-auth", ...(sigilPath ? ["sigil"] : [])];
  const baNames = values.catalogue ? [...new Set([...scenarioNames, ...Object.keys(EXTRA_SCENARIOS)])] : scenarioNames;
  const results = await Promise.all(
    targets.map((t) => runTarget(t, t === "better-auth" ? baNames : scenarioNames.filter((n) => SCENARIOS[n]))),
  );
  const [ba, sigil] = results;
  writeFileSync(join(outDir, "better-auth.json"), JSON.stringify(ba.transcript, null, 2) + "\n");
  writeFileSync(join(outDir, "better-auth-exchanges.json"), JSON.stringify(ba.exchanges, null, 2) + "\n");

  // The reference must satisfy every assertion: a failure there is a harness bug (or a Better Auth change).
  let baFailed = 0;
  let baTotal = 0;
  for (const [name, sc] of Object.entries(ba.transcript.scenarios)) {
    for (const a of sc.assertions) {
      baTotal += 1;
      if (!a.ok) {
        baFailed += 1;
        console.log(`✗ better-auth assertion failed: ${a.name}${a.detail ? `: ${a.detail}` : ""}`);
      }
    }
    if (!sc.steps.length) console.log(`✗ better-auth ${name}: no steps ran`);
  }
  if (baFailed) exitCode = 1;

  if (values.catalogue) {
    const file = join(HERE, "BETTER-AUTH-OBSERVED.md");
    const current = existsSync(file) ? readFileSync(file, "utf8") : "";
    writeFileSync(file, renderCatalogue(current, ba.exchanges, { version: BA_VERSION, scenarios: SCENARIOS, extra: EXTRA_SCENARIOS }));
    console.log(`conformance: wrote ${file}`);
  }

  if (sigil) {
    writeFileSync(join(outDir, "sigil.json"), JSON.stringify(sigil.transcript, null, 2) + "\n");
    writeFileSync(join(outDir, "sigil-exchanges.json"), JSON.stringify(sigil.exchanges, null, 2) + "\n");
    // compare only the scenarios both ran
    const shared = { ...ba.transcript, scenarios: Object.fromEntries(Object.entries(ba.transcript.scenarios).filter(([n]) => SCENARIOS[n] && scenarioNames.includes(n))) };
    const result = compareTranscripts(shared, sigil.transcript, loadKnown(values.known));
    const unlisted = printComparison(result);
    // Counted units: every reference step (passes when it shows no unlisted difference) and every assertion
    // of the Sigil run (plus reference assertions that failed, which are harness failures).
    const stepNames = Object.values(shared.scenarios).flatMap((sc) => sc.steps.map((st) => st.step));
    const badSteps = new Set(result.unlisted.filter((d) => d.path !== "(assertion)").map((d) => d.step));
    const sigilAssertions = Object.values(sigil.transcript.scenarios).flatMap((sc) => sc.assertions);
    const badAssertions = result.unlisted.filter((d) => d.path === "(assertion)").length;
    const passed = stepNames.filter((n) => !badSteps.has(n)).length + (sigilAssertions.length - badAssertions);
    const failed = badSteps.size + badAssertions + baFailed;
    console.log(`conformance: ${passed} passed, ${failed} failed`);
    if (unlisted) exitCode = 1;
  } else {
    const steps = Object.values(ba.transcript.scenarios).reduce((n, s) => n + s.steps.length, 0);
    console.log(`conformance: better-auth only: ${steps} steps observed`);
    console.log(`conformance: ${baTotal - baFailed} passed, ${baFailed} failed`);
  }
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  killAllSync();
}
console.log(`conformance: done in ${((Date.now() - started) / 1000).toFixed(1)} s, transcripts in ${outDir}`);
process.exit(exitCode);
