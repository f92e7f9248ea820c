// Better Auth peer for the Sigil benchmark.
//
// A real better-auth@1.7.25 server: in-memory adapter, email + password, the jwt() and bearer() plugins,
// rate limiting off (the benchmark hammers sign-in), telemetry off. Everything else is Better Auth's default
// (EdDSA JWTs, scrypt N=16384 r=16 p=1 passwords, `set-auth-jwt` header on get-session, no cookie cache).
//
// Environment: PORT (default 3000), BETTER_AUTH_SECRET (required, >= 32 chars).
// Prints "Better Auth listening on http://127.0.0.1:PORT" once it accepts connections.
import { createServer } from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";

const port = Number(process.env.PORT ?? 3000);
const secret = process.env.BETTER_AUTH_SECRET;
if (!secret || secret.length < 32) {
  console.error("BETTER_AUTH_SECRET must be set (>= 32 characters)");
  process.exit(2);
}
const baseURL = `http://127.0.0.1:${port}`;

const db = { user: [], session: [], account: [], verification: [], jwks: [] };

const auth = betterAuth({
  baseURL,
  secret,
  database: memoryAdapter(db),
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  telemetry: { enabled: false },
  plugins: [jwt(), bearer()],
});

const server = createServer(toNodeHandler(auth));
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => {
  console.log(`Better Auth listening on ${baseURL}`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
