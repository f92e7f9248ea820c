#!/usr/bin/env node
// Reference server: a real Better Auth 1.7.25 instance (memory adapter, jwt + bearer + admin + twoFactor plugins, and
// @better-auth/passkey 1.7.6 with the base URL's host as rp id and its origin as the only origin) served over
// HTTP with toNodeHandler. It reads the same flags and environment variables as `sigil serve`, so that the
// harness can start both servers the same way, and it writes mail to the same JSON-lines outbox.
//
//   node ba-server.mjs [--addr 127.0.0.1:0] [--base-url URL] [--secret S]
//                      [--require-email-verification] [--rate-limit on|off]
//                      [--auto-sign-in-after-verification] [--delete-verification]
//                      [--session-update-age SECONDS]   (the last three only for the behaviour catalogue)
//   env: SIGIL_ADDR, SIGIL_BASE_URL, SIGIL_SECRET, SIGIL_MAIL_FILE, SIGIL_RATE_LIMIT=off,
//        SIGIL_REQUIRE_EMAIL_VERIFICATION=true|false, SIGIL_TRUSTED_ORIGINS=a,b
//
// When ready it prints exactly one line to stdout: `listening on http://127.0.0.1:PORT`.
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

// Better Auth turns its origin checks off when it believes it runs under a test runner; the harness must
// observe the production behaviour, so make sure nothing in the environment says "test".
delete process.env.TEST;
if (process.env.NODE_ENV === "test") delete process.env.NODE_ENV;
// Keep the telemetry package quiet and offline.
process.env.BETTER_AUTH_TELEMETRY = "0";

const { betterAuth } = await import("better-auth");
const { memoryAdapter } = await import("better-auth/adapters/memory");
const { admin, bearer, jwt, twoFactor } = await import("better-auth/plugins");
const { toNodeHandler } = await import("better-auth/node");
const { passkey } = await import("@better-auth/passkey");

const DEFAULT_SECRET = "sigil-conformance-secret-0123456789abcdefghijklmnop";

function envBool(name) {
  const v = process.env[name];
  if (v === undefined || v === "") return undefined;
  return /^(1|true|yes|on)$/i.test(v);
}

const { values: args } = parseArgs({
  options: {
    addr: { type: "string" },
    port: { type: "string" },
    "base-url": { type: "string" },
    secret: { type: "string" },
    "require-email-verification": { type: "boolean" },
    "rate-limit": { type: "string" },
    "auto-sign-in-after-verification": { type: "boolean" },
    "delete-verification": { type: "boolean" },
    "session-update-age": { type: "string" },
    "mail-file": { type: "string" },
  },
  strict: true,
});

const addr = args.addr ?? process.env.SIGIL_ADDR ?? `127.0.0.1:${args.port ?? "0"}`;
const sep = addr.lastIndexOf(":");
const host = addr.slice(0, sep) || "127.0.0.1";
const port = Number(addr.slice(sep + 1) || "0");
const secret = args.secret ?? process.env.SIGIL_SECRET ?? DEFAULT_SECRET;
const mailFile = args["mail-file"] ?? process.env.SIGIL_MAIL_FILE;
const requireEmailVerification =
  args["require-email-verification"] ?? envBool("SIGIL_REQUIRE_EMAIL_VERIFICATION") ?? false;
const rateLimitFlag = (args["rate-limit"] ?? process.env.SIGIL_RATE_LIMIT ?? "on").toLowerCase();
const rateLimitEnabled = !["off", "0", "false", "no"].includes(rateLimitFlag);
const trustedOrigins = (process.env.SIGIL_TRUSTED_ORIGINS ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);

/** Appends one mail to the outbox: {"to","kind","url","token"} on one line. */
function writeMail(kind, to, url, token) {
  const line = JSON.stringify({ to, kind, url, token }) + "\n";
  if (mailFile) appendFileSync(mailFile, line);
  else process.stderr.write(`mail: ${line}`);
}

/** The payload of a compact JWT, or null. */
function jwtPayload(token) {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
  } catch {
    return null;
  }
}

let handler = null;
const db = { user: [], session: [], account: [], verification: [], jwks: [], twoFactor: [], passkey: [] };
const server = createServer((req, res) => {
  if (!handler) {
    res.statusCode = 503;
    res.end();
    return;
  }
  // Harness only (SIGIL_HARNESS_PROMOTE=1): what `sigil users set-role EMAIL admin` does on Sigil's
  // database, done on the memory adapter's rows.
  if (process.env.SIGIL_HARNESS_PROMOTE === "1" && req.method === "POST" && req.url === "/__harness/promote") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const { email, role } = JSON.parse(body || "{}");
      const user = db.user.find((u) => u.email === email);
      if (user) user.role = role ?? "admin";
      res.statusCode = user ? 200 : 404;
      res.end();
    });
    return;
  }
  handler(req, res);
});

server.listen(port, host, () => {
  const bound = server.address();
  const baseURL = args["base-url"] ?? process.env.SIGIL_BASE_URL ?? `http://${host}:${bound.port}`;
  const auth = betterAuth({
    baseURL,
    secret,
    database: memoryAdapter(db),
    telemetry: { enabled: false },
    trustedOrigins,
    rateLimit: { enabled: rateLimitEnabled },
    advanced: { disableCSRFCheck: false, disableOriginCheck: false },
    logger: { level: process.env.BA_LOG_LEVEL ?? "error" },
    emailAndPassword: {
      enabled: true,
      requireEmailVerification,
      async sendResetPassword({ user, url, token }) {
        writeMail("reset-password", user.email, url, token);
      },
    },
    emailVerification: {
      autoSignInAfterVerification: args["auto-sign-in-after-verification"] ?? false,
      async sendVerificationEmail({ user, url, token }) {
        // The same callback carries sign-up/sign-in verification and the change-email link; the JWT says which.
        const kind = jwtPayload(token)?.updateTo ? "change-email" : "verify-email";
        writeMail(kind, user.email, url, token);
      },
    },
    user: {
      changeEmail: { enabled: true },
      deleteUser: {
        enabled: true,
        ...(args["delete-verification"]
          ? {
              async sendDeleteAccountVerification({ user, url, token }) {
                writeMail("delete-account", user.email, url, token);
              },
            }
          : {}),
      },
    },
    ...(args["session-update-age"] !== undefined ? { session: { updateAge: Number(args["session-update-age"]) } } : {}),
    plugins: [
      jwt(),
      bearer(),
      admin(),
      // Sigil's settings: issuer "Sigil" (SIGIL_TWO_FACTOR_ISSUER's default), email codes through the outbox.
      twoFactor({
        issuer: "Sigil",
        otpOptions: {
          async sendOTP({ user, otp }) {
            writeMail("two-factor-code", user.email, "", otp);
          },
        },
      }),
      // Sigil's relying party: the base URL's host and origin (a browser refuses an IP address as rp id, so
      // the passkey scenario runs both servers on http://localhost:PORT).
      passkey({ rpID: new URL(baseURL).hostname, rpName: "Sigil", origin: new URL(baseURL).origin }),
    ],
  });
  handler = toNodeHandler(auth);
  process.stdout.write(`listening on http://${host}:${bound.port}\n`);
});

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
