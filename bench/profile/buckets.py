#!/usr/bin/env python3
"""Buckets a `perf record -g` profile of Sigil by what the code does, per request.

    buckets.py PERF_DATA RUN_JSON

Reads `perf script` call stacks. A sample whose innermost frame is in the kernel counts as
"kernel"; otherwise the stack is walked from the innermost frame outwards and the sample goes to
the first frame that names a known part (so a memcpy or malloc inside serde_json counts as JSON).
Each bucket's share of the samples times the server's CPU time per request (RUN_JSON, measured from
/proc/<pid>/stat over the run) gives microseconds per request.
"""

import json
import re
import subprocess
import sys
from collections import Counter

BUCKETS = [
    ("JWT verification (sigil-token: base64, JSON claims, signature)",
     r"sigil_token|ed25519|curve25519|sha2::|hmac|base64|sigil_guard::"),
    ("task-list JSON (serde_json)", r"serde_json|serde::ser|sigil_tasks::store::to_json|Serialize"),
    ("query: SQLite engine", r"^sqlite3|sqlite3[A-Z_]"),
    ("query: sqlx SQLite driver (worker thread, statement cache, rows)", r"sqlx_sqlite"),
    ("query: sqlx PostgreSQL driver (protocol, rows)", r"sqlx_postgres"),
    ("sqlx Any driver (row conversion)", r"sqlx_core::any|AnyRow|AnyValue|sqlx::any"),
    ("pool acquire/release (sqlx pool)", r"sqlx_core::pool"),
    ("other sqlx", r"sqlx"),
    ("tasks handler (sigil-tasks)", r"sigil_tasks"),
    ("HTTP (hyper, axum, tower, middleware)", r"hyper|axum|tower|httparse|http::|sigil::serve|sigil::app"),
    ("async runtime (tokio scheduling, wake-ups)", r"tokio"),
    ("allocator / libc", r"malloc|free|memcpy|memmove|memset|realloc|_int_|cfree|__libc"),
]
COMPILED = [(name, re.compile(rx)) for name, rx in BUCKETS]


def stacks(perf_data):
    out = subprocess.run(["perf", "script", "-i", perf_data, "-F", "comm,ip,sym,dso"], capture_output=True,
                         text=True, errors="replace").stdout
    for block in out.split("\n\n"):
        frames, comm = [], ""
        for line in block.splitlines():
            if not line.strip():
                continue
            m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)$", line)
            if m:
                frames.append((m.group(1), m.group(2)))
            elif not frames:
                comm = line.strip()
        if frames:
            yield comm, frames


KERNEL_CALLERS = [
    ("kernel: socket reads/writes (HTTP)", r"hyper|tokio::net|mio::net|recv|send|writev|read$|write$|__libc_(read|write)"),
    ("kernel: runtime idle/wake (epoll, tokio park)", r"tokio|epoll|mio"),
    ("kernel: PostgreSQL socket I/O (sqlx-postgres)", r"sqlx_postgres"),
]
KERNEL_COMPILED = [(name, re.compile(rx)) for name, rx in KERNEL_CALLERS]


def _is_kernel(dso):
    return "kernel" in dso or dso.startswith("[k")


def bucket(comm, frames):
    sym, dso = frames[0]
    # The stacks have no frame pointers past libc, so kernel time is told apart by thread: sqlx-sqlite
    # runs each connection's SQLite on a thread of its own, reached through a channel.
    if _is_kernel(dso) and comm.startswith("sqlx-sqlite"):
        return "kernel on the SQLite worker threads (sleeping/waking for each query hand-off)"
    if _is_kernel(dso):
        # Who entered the kernel: the innermost user-space frames decide.
        user = [f for f in frames if not _is_kernel(f[1])]
        for sym, _dso in user[:12]:
            for name, rx in KERNEL_COMPILED:
                if rx.search(sym):
                    return name
        return "kernel on the runtime threads (socket I/O, waking SQLite workers, scheduling)"
    for sym, _dso in frames:
        for name, rx in COMPILED:
            if rx.search(sym):
                return name
    return "other (SQLite worker thread)" if comm.startswith("sqlx-sqlite") else "other"


def main():
    perf_data, run_json = sys.argv[1], sys.argv[2]
    run = json.load(open(run_json))
    counts = Counter(bucket(c, f) for c, f in stacks(perf_data))
    total = sum(counts.values()) or 1
    per_req = run["cpu_us_per_request"]
    print(f"{run['requests']:,} requests, {run['rps']:,.0f} req/s, server CPU {per_req:.1f} µs per request "
          f"(load average {run['loadavg']}), {total:,} samples")
    print(f"{'part':<70} {'share':>7} {'µs/req':>8}")
    for name, n in counts.most_common():
        print(f"{name:<70} {100 * n / total:>6.1f}% {per_req * n / total:>8.1f}")


if __name__ == "__main__":
    main()
