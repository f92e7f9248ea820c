#!/usr/bin/env node
// Interop the other way: a team keeps Next.js + a real Better Auth server and puts Sigil's tasks API
// where FastAPI was. This starts Better Auth 1.7.25 (ba-server.mjs: memory adapter, jwt + bearer) and
// `sigil serve-api --jwks-url <better auth>/api/auth/jwks`, gets a JWT from Better Auth through the
// official client, and checks that Sigil's guard accepts it for the user's own routes and refuses
// everything else.
//
//   node tests/conformance/interop.mjs --sigil target/debug/sigil
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort, startServer, killAllSync } from "./lib/proc.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { sigil: { type: "string" } } });
if (!values.sigil) {
  console.error("usage: node interop.mjs --sigil <path to sigil>");
  process.exit(2);
}
const { createAuthClient } = await import("better-auth/client");
const { jwtClient } = await import("better-auth/client/plugins");

let failures = 0;
function check(name, ok, detail = "") {
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : `  ${detail}`}`);
  if (!ok) failures++;
}

const dir = mkdtempSync(join(tmpdir(), "sigil-interop-"));
try {
  const baPort = await freePort();
  const ba = await startServer({
    label: "better-auth",
    command: process.execPath,
    args: [join(HERE, "ba-server.mjs"), "--addr", `127.0.0.1:${baPort}`, "--base-url", `http://127.0.0.1:${baPort}`, "--rate-limit", "off"],
    env: { SIGIL_MAIL_FILE: join(dir, "mail.jsonl") },
  });
  const apiPort = await freePort();
  const api = await startServer({
    label: "sigil serve-api",
    command: resolve(values.sigil),
    args: ["serve-api", "--addr", `127.0.0.1:${apiPort}`, "--database-url", `sqlite://${join(dir, "api.db")}`, "--jwks-url", `${ba.url}/api/auth/jwks`],
    env: { RUST_LOG: "warn", SIGIL_JWT_SECRET: undefined, DATABASE_URL: undefined },
  });

  // The official client, in Node: give it the Origin a browser would send.
  const client = createAuthClient({
    baseURL: ba.url,
    plugins: [jwtClient()],
    fetchOptions: { headers: { origin: ba.url } },
  });
  const signUp = await client.signUp.email({ name: "Interop", email: "interop@example.com", password: "a long passphrase" });
  check("Better Auth sign-up", !signUp.error, JSON.stringify(signUp.error));
  const sessionToken = signUp.data?.token;
  const tokenRes = await fetch(`${ba.url}/api/auth/token`, { headers: { authorization: `Bearer ${sessionToken}` } });
  const { token: jwt } = await tokenRes.json();
  const userId = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString()).sub;
  check("Better Auth issued an EdDSA JWT with a kid", JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString()).kid !== undefined);

  const call = (method, path, token, body) =>
    fetch(`${api.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });

  const created = await call("POST", `/api/${userId}/tasks`, jwt, { title: "from a Better Auth token" });
  check("Sigil's API accepts Better Auth's JWT (201)", created.status === 201, `status ${created.status} ${await created.clone().text()}`);
  const listed = await call("GET", `/api/${userId}/tasks`, jwt);
  const tasks = await listed.json();
  check("and lists the user's task", listed.status === 200 && tasks[0]?.title === "from a Better Auth token", JSON.stringify(tasks));
  const other = await call("GET", `/api/someone-else/tasks`, jwt);
  check("another user's route is 403", other.status === 403, `status ${other.status}`);
  const none = await call("GET", `/api/${userId}/tasks`);
  check("no token is 401", none.status === 401 && /^Bearer realm=/.test(none.headers.get("www-authenticate") ?? ""), `status ${none.status}`);
  const [h, p, s] = jwt.split(".");
  const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), sub: "admin" })).toString("base64url");
  const forged = await call("GET", `/api/admin/tasks`, `${h}.${forgedPayload}.${s}`);
  check("a tampered Better Auth token is 401", forged.status === 401, `status ${forged.status}`);
  const session = await call("GET", `/api/${userId}/tasks`, sessionToken);
  check("a Better Auth session token is not a JWT: 401", session.status === 401, `status ${session.status}`);

  // The client's own JWT path: get-session's set-auth-jwt header.
  let headerJwt;
  await client.getSession({ fetchOptions: { headers: { authorization: `Bearer ${sessionToken}` }, onSuccess: (ctx) => { headerJwt = ctx.response.headers.get("set-auth-jwt"); } } });
  const viaHeader = await call("GET", `/api/${userId}/tasks`, headerJwt);
  check("the set-auth-jwt token works too", viaHeader.status === 200, `status ${viaHeader.status}`);

  await api.stop();
  await ba.stop();
} catch (e) {
  console.error(e);
  failures++;
} finally {
  killAllSync();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`interop: ${failures === 0 ? "all checks passed" : `${failures} failed`}`);
process.exit(failures === 0 ? 0 : 1);
