// Bare scrypt hashing throughput at Better Auth's parameters (N=16384, r=16, p=1, dkLen=64), the way
// Better Auth hashes on Node (node:crypto scrypt, async, on libuv's thread pool), CONCURRENCY hashes in
// flight for SECONDS seconds. Prints one JSON object. Context for the sign-in row: how much of Better
// Auth's sign-in time is the hash itself.
//
// Usage: node scrypt-baseline.mjs [CONCURRENCY=2] [SECONDS=5]
import { scrypt } from "node:crypto";

const concurrency = Number(process.argv[2] ?? 2);
const seconds = Number(process.argv[3] ?? 5);
const N = 16384, r = 16, p = 1, dkLen = 64;
const opts = { N, r, p, maxmem: 128 * N * r * 2 };

const hash = (salt) =>
  new Promise((resolve, reject) =>
    scrypt("correct-horse-battery".normalize("NFKC"), salt, dkLen, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );

await hash("warmup-salt-0123456789abcdef0123");
const latencies = [];
const started = performance.now();
const deadline = started + seconds * 1000;
let n = 0;
async function worker(i) {
  while (performance.now() < deadline) {
    const t0 = performance.now();
    await hash(`${i}-${n++}`.padEnd(32, "0"));
    latencies.push(performance.now() - t0);
  }
}
await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const pct = (q) => (latencies.length ? latencies[Math.round((latencies.length - 1) * q)] : 0);
console.log(
  JSON.stringify({
    algorithm: "scrypt",
    N, r, p, dkLen,
    concurrency,
    seconds: Number(elapsed.toFixed(3)),
    hashes: latencies.length,
    hashes_per_sec: Number((latencies.length / elapsed).toFixed(2)),
    p50_ms: Number(pct(0.5).toFixed(2)),
    p99_ms: Number(pct(0.99).toFixed(2)),
  }),
);
