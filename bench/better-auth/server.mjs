// Better Auth peer for the Sigil benchmark.
//
// A real better-auth@1.7.25 server: email + password, the jwt() and bearer() plugins, rate limiting off
// (the benchmark hammers sign-in), telemetry off. Everything else is Better Auth's default (EdDSA JWTs,
// scrypt N=16384 r=16 p=1 passwords, `set-auth-jwt` header on get-session, no cookie cache).
//
// Environment:
//   PORT                (default 3000)
//   BETTER_AUTH_SECRET  (required, >= 32 chars)
//   DATABASE_URL        postgres://... : Better Auth's Kysely adapter on PostgreSQL through a `pg` Pool (how it
//                       is deployed); sqlite:/path/file.db : its Kysely adapter on an SQLite file through
//                       better-sqlite3 (WAL, busy timeout 5 s, synchronous=NORMAL: the settings Sigil uses).
//                       The schema is created at start (Better Auth's own migrations). Without it: the
//                       in-memory adapter (one process only: its data lives in that process).
//   WORKERS             (default 1) with DATABASE_URL, this many Node processes behind the same port
//                       (node:cluster; the primary migrates, then forks them and only supervises; on
//                       SQLite every process opens the same file, as two Sigil processes would).
// Prints "Better Auth listening on http://127.0.0.1:PORT" once it accepts connections.
import cluster from "node:cluster";
import { createServer } from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";

const port = Number(process.env.PORT ?? 3000);
const secret = process.env.BETTER_AUTH_SECRET;
if (!secret || secret.length < 32) {
  console.error("BETTER_AUTH_SECRET must be set (>= 32 characters)");
  process.exit(2);
}
const baseURL = `http://127.0.0.1:${port}`;
const databaseUrl = process.env.DATABASE_URL ?? "";
const workers = Number(process.env.WORKERS ?? 1);
if (workers > 1 && !databaseUrl) {
  console.error("WORKERS > 1 needs DATABASE_URL (the memory adapter is per process)");
  process.exit(2);
}

async function database() {
  if (!databaseUrl) return memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] });
  if (databaseUrl.startsWith("sqlite:")) {
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(databaseUrl.slice("sqlite:".length));
    db.pragma("busy_timeout = 5000");
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    return db;
  }
  const { default: pg } = await import("pg");
  return new pg.Pool({ connectionString: databaseUrl });
}

async function makeAuth() {
  return betterAuth({
    baseURL,
    secret,
    database: await database(),
    emailAndPassword: { enabled: true },
    rateLimit: { enabled: false },
    telemetry: { enabled: false },
    plugins: [jwt(), bearer()],
  });
}

async function serve() {
  const auth = await makeAuth();
  const server = createServer(toNodeHandler(auth));
  server.keepAliveTimeout = 65_000;
  server.listen(port, "127.0.0.1", () => {
    if (cluster.isPrimary) console.log(`Better Auth listening on ${baseURL}`);
    else process.send?.("listening");
  });
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (cluster.isPrimary && databaseUrl) {
  const auth = await makeAuth();
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
}

if (cluster.isPrimary && workers > 1) {
  let up = 0;
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    w.on("message", (m) => {
      if (m === "listening" && ++up === workers) console.log(`Better Auth listening on ${baseURL} (${workers} processes)`);
    });
  }
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill("SIGTERM");
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  cluster.on("exit", () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
} else {
  await serve();
}
