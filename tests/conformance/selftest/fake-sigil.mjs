#!/usr/bin/env node
// A stand-in for the `sigil` binary that runs the Better Auth reference server behind Sigil's command-line
// contract. `node run.mjs --sigil selftest/fake-sigil.mjs` must then report no difference at all: it checks
// that the harness is deterministic and that run.mjs drives the Sigil CLI contract correctly.
//
//   fake-sigil.mjs serve --addr HOST:PORT [--base-url URL] [--database-url URL] [--secret S]
// and the SIGIL_* environment variables, as `sigil serve` takes them.
import { spawn } from "node:child_process";
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
if (positionals[0] !== "serve") {
  console.error("usage: fake-sigil.mjs serve --addr HOST:PORT [--base-url URL] [--database-url URL] [--secret S]");
  process.exit(2);
}
const args = [join(here, "..", "ba-server.mjs")];
if (values.addr) args.push("--addr", values.addr);
if (values["base-url"]) args.push("--base-url", values["base-url"]);
if (values.secret) args.push("--secret", values.secret);
const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
child.stdout.setEncoding("utf8");
child.stdout.on("data", (chunk) => process.stdout.write(chunk.replace(/^listening on /m, "Sigil listening on ")));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => child.kill(sig));
