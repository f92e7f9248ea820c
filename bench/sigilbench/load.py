"""The load generator: wrk (Debian's package), closed loop over keep-alive connections, same settings for every side.

Each scenario is a warm-up run whose numbers are dropped, then the measured run. The server's peak RSS is
reset before the measured run and read after it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .procs import Server, run_prioritized

LUA = Path(__file__).resolve().parent.parent / "wrk" / "report.lua"


@dataclass
class Load:
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: str | None = None
    connections: int = 32
    tokens_file: str | None = None  # one bearer token per line, rotated per request (see report.lua)
    expect_status: int | None = None  # None: 2xx answers count; e.g. 403 for a diagnostic path
    users_file: str | None = None  # "user_id token" lines: GET /api/{user_id}/tasks per user (see report.lua)


@dataclass
class Settings:
    duration: float
    warmup: float
    threads: int
    cpus: str | None  # taskset CPU list for wrk, or None
    nice: int = 0  # scheduling priority of wrk, the same as the servers'


def _prefix(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus else []


def _wrk(server: Server, load: Load, seconds: float, settings: Settings) -> dict:
    cmd = _prefix(settings.cpus) + [
        "wrk", f"-t{settings.threads}", f"-c{load.connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(LUA),
    ]
    for k, v in load.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(server.base + load.path)
    env = dict(os.environ, WRK_METHOD=load.method, WRK_BODY=load.body or "", WRK_TOKENS_FILE=load.tokens_file or "",
               WRK_USERS_FILE=load.users_file or "")
    out = run_prioritized(cmd, settings.nice, timeout=seconds + 60, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise RuntimeError(f"wrk gave no summary (exit {out.returncode}): {out.stderr.strip() or out.stdout.strip()}")


_HZ = os.sysconf("SC_CLK_TCK")


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    return sum(f) - idle, sum(f)


def _proc_jiffies(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def _db_pids() -> list[int]:
    """PostgreSQL's processes on this machine (the database both sides share in the PostgreSQL rows)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def loadavg() -> float:
    """The 1-minute load average: how much other work the machine had around a run."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _children_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def harvest_tokens(server: Server, bearer: str, out: Path, seconds: float, settings: Settings) -> int:
    """Fills `out` with distinct JWTs from the server's /api/auth/token (wrk + harvest.lua); returns how many."""
    cmd = _prefix(settings.cpus) + [
        "wrk", "-t1", "-c8", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(LUA.parent / "harvest.lua"),
        "-H", f"Authorization: Bearer {bearer}", server.base + "/api/auth/token",
    ]
    r = run_prioritized(cmd, settings.nice, timeout=seconds + 60, env=dict(os.environ, WRK_OUT=str(out)))
    if r.returncode != 0:
        raise RuntimeError(f"token harvest failed: {r.stderr.strip()}")
    tokens = list(dict.fromkeys(t for t in out.read_text().splitlines() if t))
    out.write_text("\n".join(tokens) + "\n")
    return len(tokens)


def measure(server: Server, load: Load, settings: Settings) -> dict:
    """Warm-up, then the measured run; returns req/s, p50/p99 (ms), errors and the server's peak RSS (KiB)."""
    if settings.warmup > 0:
        _wrk(server, load, settings.warmup, settings)
    server.reset_peak()
    rss_before = server.rss_kib()
    # CPU accounting around the measured run: what the server and wrk used, and what anything else on
    # the machine took (other work skews a benchmark on two cores).
    pids = server.pids()
    db_pids = _db_pids()
    load_before = loadavg()
    busy0, total0 = _cpu_jiffies()
    srv0, kids0, db0 = _proc_jiffies(pids), _children_seconds(), _proc_jiffies(db_pids)
    r = _wrk(server, load, settings.duration, settings)
    busy1, total1 = _cpu_jiffies()
    srv1, kids1 = _proc_jiffies(pids), _children_seconds()
    db_pids += [p for p in _db_pids() if p not in db_pids]  # backends opened during the run count from 0
    db1 = _proc_jiffies(db_pids)
    span = max(1, total1 - total0)
    server_cpu = (srv1 - srv0) / span
    wrk_cpu = (kids1 - kids0) * _HZ / span
    other_cpu = max(0.0, (busy1 - busy0) / span - server_cpu - wrk_cpu)
    secs = r["duration_us"] / 1e6
    lat = r["latency_us"]
    wall = max(secs, 1e-9)
    # wrk counts answers with a status >= 400 as "status" errors; the rest are the expected 2xx.
    failed_status = r["errors"]["status"]
    if load.expect_status is None:
        ok, unexpected = r["requests"] - failed_status, failed_status
    else:
        ok, unexpected = failed_status, r["requests"] - failed_status
    errors = {k: v for k, v in r["errors"].items() if v and k != "status"}
    return {
        "rps": ok / secs if secs else 0.0,
        "requests": r["requests"],
        "ok": ok,
        "unexpected_status": unexpected,
        "expect_status": load.expect_status or "2xx",
        "errors": errors,
        "p50_ms": lat["p50"] / 1e3,
        "p90_ms": lat["p90"] / 1e3,
        "p99_ms": lat["p99"] / 1e3,
        "max_ms": lat["max"] / 1e3,
        "mean_ms": lat["mean"] / 1e3,
        "seconds": secs,
        "connections": load.connections,
        "rss_before_kib": rss_before,
        "peak_rss_kib": server.peak_kib(),
        # shares of the whole machine (all CPUs = 100%) during the measured run
        "cpu_server_pct": round(100 * server_cpu, 1),
        "cpu_wrk_pct": round(100 * wrk_cpu, 1),
        "cpu_other_pct": round(100 * other_cpu, 1),
        # cores used over the run (utime + stime deltas from /proc/<pid>/stat of every server process)
        "cores_server": round((srv1 - srv0) / _HZ / wall, 2),
        "cores_wrk": round((kids1 - kids0) / wall, 2),
        "cores_postgres": round(max(0, db1 - db0) / _HZ / wall, 2),
        "loadavg_before": load_before,
        "loadavg_after": loadavg(),
    }
