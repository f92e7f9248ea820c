#!/usr/bin/env node
// Compares two transcripts (the reference Better Auth run and a Sigil run) and prints every difference.
// Differences listed in known-differences.json (each with a reason) are accepted; any other difference, and
// any failed assertion of the candidate, makes the exit code 1.
//
//   node compare.mjs out/better-auth.json out/sigil.json [--known known-differences.json]
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const HERE = dirname(fileURLToPath(import.meta.url));
const ABSENT = "<absent>";

/** Flattens the comparable parts of one observation into path -> value. */
function flatten(obs) {
  const out = new Map();
  const put = (k, v) => out.set(k, v);
  for (const k of ["error", "status", "code", "message", "bodyKind"]) if (obs[k] !== undefined) put(k, obs[k]);
  if (obs.request) put("request", `${obs.request.method} ${obs.request.path}`);
  for (const key of obs.keys ?? []) put(`key:${key}`, "present");
  const walk = (v, p) => {
    if (Array.isArray(v)) {
      put(`${p}.length`, v.length);
      v.forEach((item, i) => walk(item, `${p}[${i}]`));
    } else if (v && typeof v === "object") {
      const keys = Object.keys(v);
      if (!keys.length) put(p, "{}");
      for (const k of keys) walk(v[k], `${p}.${k}`);
    } else put(p, v);
  };
  if ("body" in obs) walk(obs.body, "body");
  for (const [h, v] of Object.entries(obs.headers ?? {})) put(`header:${h}`, v);
  for (const [name, c] of Object.entries(obs.cookies ?? {})) {
    put(`cookie:${name}`, "set");
    if (Array.isArray(c)) {
      put(`cookie:${name}|all`, JSON.stringify(c));
      continue;
    }
    put(`cookie:${name}|value`, c.value);
    for (const [a, v] of Object.entries(c.attributes)) put(`cookie:${name}|${a}`, v);
  }
  // non-exchange observations (JWT shapes, mail shapes, counters)
  for (const k of Object.keys(obs)) {
    if (["step", "request", "error", "status", "code", "message", "bodyKind", "keys", "body", "headers", "cookies", "clientError"].includes(k)) continue;
    walk(obs[k], k);
  }
  return out;
}

/**
 * Differences between two observations of the same step. A body leaf that exists on one side only is not
 * reported on its own when a key:... difference or an array .length difference already says so; the
 * attributes of a cookie set on one side only are not reported on their own either.
 */
function diffObservation(a, b) {
  const fa = flatten(a);
  const fb = flatten(b);
  const value = (m, p) => (m.has(p) ? m.get(p) : ABSENT);
  const diffs = [];
  for (const p of new Set([...fa.keys(), ...fb.keys()])) {
    const va = value(fa, p);
    const vb = value(fb, p);
    if (va === vb) continue;
    if (/^body[.[]/.test(p) && (va === ABSENT || vb === ABSENT) && !p.endsWith(".length")) {
      const keyPath = `key:${p.replace(/^body\.?/, "").replace(/\[\d+\]/g, "[]")}`;
      if (value(fa, keyPath) !== value(fb, keyPath)) continue;
      const arr = /^(.*)\[(\d+)\]/.exec(p);
      if (arr && value(fa, `${arr[1]}.length`) !== value(fb, `${arr[1]}.length`)) continue;
    }
    const cookie = /^(cookie:[^|]+)\|/.exec(p);
    if (cookie && fa.has(cookie[1]) !== fb.has(cookie[1])) continue;
    diffs.push({ path: p, expected: va, actual: vb });
  }
  return diffs;
}

function globToRegExp(glob) {
  return new RegExp(`^${glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
}

/**
 * Compiles known-differences.json entries: {step, path, reason, expected?, actual?}. `step` and `path` are
 * globs (`*` matches anything); `expected`/`actual`, when given, must equal the Better Auth / Sigil value
 * exactly (`<absent>` for a missing one), so that an entry accepts one specific deviation and no other.
 */
export function loadKnown(file) {
  const raw = JSON.parse(readFileSync(file, "utf8"));
  const list = Array.isArray(raw) ? raw : raw.differences;
  return list.map((k, i) => {
    if (!k.step || !k.path || !k.reason) throw new Error(`known-differences entry ${i} needs step, path and reason`);
    return { ...k, stepRe: globToRegExp(k.step), pathRe: globToRegExp(k.path), used: 0 };
  });
}

/**
 * Compares transcripts. Both have the shape {scenarios: {name: {steps: [...], assertions: [...]}}}.
 * @returns {{differences: object[], unlisted: object[], matchedSteps: number, known: object[]}}
 */
export function compareTranscripts(expected, actual, known = []) {
  const differences = [];
  let matchedSteps = 0;
  const scenarios = [...new Set([...Object.keys(expected.scenarios ?? {}), ...Object.keys(actual.scenarios ?? {})])];
  for (const sc of scenarios) {
    const ea = expected.scenarios?.[sc];
    const aa = actual.scenarios?.[sc];
    if (!ea || !aa) {
      differences.push({ step: `${sc}/*`, path: "(scenario)", expected: ea ? "ran" : ABSENT, actual: aa ? "ran" : ABSENT });
      continue;
    }
    const byName = (list) => new Map(list.map((s) => [s.step, s]));
    const es = byName(ea.steps);
    const as = byName(aa.steps);
    const names = [...new Set([...es.keys(), ...as.keys()])];
    for (const name of names) {
      const e = es.get(name);
      const a = as.get(name);
      if (!e || !a) {
        differences.push({ step: name, path: "(step)", expected: e ? "present" : ABSENT, actual: a ? "present" : ABSENT });
        continue;
      }
      const d = diffObservation(e, a);
      if (!d.length) matchedSteps += 1;
      for (const x of d) differences.push({ step: name, ...x });
    }
    // the candidate's failed assertions are differences too (the reference's are harness bugs: run.mjs reports them)
    const expectedOk = new Map((ea.assertions ?? []).map((x) => [x.name, x.ok]));
    for (const as2 of aa.assertions ?? []) {
      if (!as2.ok) {
        differences.push({
          step: as2.name,
          path: "(assertion)",
          expected: expectedOk.has(as2.name) ? (expectedOk.get(as2.name) ? "ok" : "failed") : ABSENT,
          actual: `failed${as2.detail ? `: ${as2.detail}` : ""}`,
        });
      }
    }
  }
  for (const d of differences) {
    const k = known.find(
      (k) =>
        k.stepRe.test(d.step) &&
        k.pathRe.test(d.path) &&
        (k.expected === undefined || String(k.expected) === String(d.expected)) &&
        (k.actual === undefined || String(k.actual) === String(d.actual)),
    );
    if (k) {
      d.known = k.reason;
      k.used += 1;
    }
  }
  return { differences, unlisted: differences.filter((d) => !d.known), matchedSteps, known };
}

const show = (v) => (typeof v === "string" ? (v.length > 300 ? `${v.slice(0, 300)}…` : v) : JSON.stringify(v));

/** Prints a comparison result; returns the number of unlisted differences. */
export function printComparison(result, { expectedLabel = "better-auth", actualLabel = "sigil", log = console.log } = {}) {
  const { differences, unlisted, known } = result;
  let lastStep = null;
  for (const d of differences) {
    if (d.step !== lastStep) {
      log(`${d.known ? "  " : "✗ "}${d.step}`);
      lastStep = d.step;
    }
    log(`    ${d.known ? "(known) " : ""}${d.path}: ${expectedLabel}=${show(d.expected)}  ${actualLabel}=${show(d.actual)}${d.known ? `  — ${d.known}` : ""}`);
  }
  const unused = known.filter((k) => k.used === 0);
  if (unused.length) {
    log(`note: ${unused.length} known difference(s) did not occur (stale entries?):`);
    for (const k of unused) log(`    ${k.step} ${k.path} — ${k.reason}`);
  }
  log(`${differences.length} difference(s), ${differences.length - unlisted.length} known, ${unlisted.length} unlisted`);
  return unlisted.length;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { known: { type: "string", default: join(HERE, "known-differences.json") } },
  });
  if (positionals.length !== 2) {
    console.error("usage: node compare.mjs <better-auth transcript> <sigil transcript> [--known FILE]");
    process.exit(2);
  }
  const [ea, aa] = positionals.map((p) => JSON.parse(readFileSync(p, "utf8")));
  const known = loadKnown(values.known);
  const result = compareTranscripts(ea, aa, known);
  const unlisted = printComparison(result, { expectedLabel: ea.target ?? "expected", actualLabel: aa.target ?? "actual" });
  process.exit(unlisted ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
