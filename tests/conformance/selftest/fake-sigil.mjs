#!/usr/bin/env node
// A stand-in for the `sigil` binary that runs the Better Auth reference server behind Sigil's command-line
// contract. `node run.mjs --sigil selftest/fake-sigil.mjs` must then report no difference at all: it checks
// that the harness is deterministic and that run.mjs drives the Sigil CLI contract correctly.
//
//   fake-sigil.mjs serve --addr HOST:PORT [--base-url URL] [--database-url URL] [--secret S]
// and the SIGIL_* environment variables, as `sigil serve` takes them.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    addr: { type: "string" },
    "base-url": { type: "string" },
    "database-url": { type: "string" },
    secret: { type: "string" },
  },
});
// `users set-role EMAIL ROLE --database-url sqlite://DIR/sigil.db`: the reference's harness-only route on the
// server this stand-in started with that database (its address is noted beside it).
const addrFile = (url) => url && join(dirname(url.replace(/^sqlite:\/\//, "").replace(/\?.*$/, "")), "fake-sigil.addr");
if (positionals[0] === "users" && positionals[1] === "set-role") {
  const addr = readFileSync(addrFile(values["database-url"]), "utf8").trim();
  const res = await fetch(`http://${addr}/__harness/promote`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: positionals[2], role: positionals[3] }),
  });
  process.exit(res.status === 200 ? 0 : 1);
}
if (positionals[0] !== "serve") {
  console.error("usage: fake-sigil.mjs serve --addr HOST:PORT [--base-url URL] [--database-url URL] [--secret S]");
  process.exit(2);
}
if (values["database-url"] && values.addr) writeFileSync(addrFile(values["database-url"]), values.addr);
const args = [join(here, "..", "ba-server.mjs")];
if (values.addr) args.push("--addr", values.addr);
if (values["base-url"]) args.push("--base-url", values["base-url"]);
if (values.secret) args.push("--secret", values.secret);
const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
child.stdout.setEncoding("utf8");
child.stdout.on("data", (chunk) => process.stdout.write(chunk.replace(/^listening on /m, "Sigil listening on ")));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => child.kill(sig));
