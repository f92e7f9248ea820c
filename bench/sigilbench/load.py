"""The load generator: wrk (Debian's package), closed loop over keep-alive connections, same settings for every side.

Each scenario is a warm-up run whose numbers are dropped, then the measured run. The server's peak RSS is
reset before the measured run and read after it.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .procs import Server

LUA = Path(__file__).resolve().parent.parent / "wrk" / "report.lua"


@dataclass
class Load:
    path: str
    headers: dict[str, str]
    method: str = "GET"
    body: str | None = None
    connections: int = 32


@dataclass
class Settings:
    duration: float
    warmup: float
    threads: int
    cpus: str | None  # taskset CPU list for wrk, or None


def _wrk(server: Server, load: Load, seconds: float, settings: Settings) -> dict:
    cmd = ["taskset", "-c", settings.cpus] if settings.cpus else []
    cmd += [
        "wrk", f"-t{settings.threads}", f"-c{load.connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(LUA),
    ]
    for k, v in load.headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(server.base + load.path)
    env = dict(os.environ, WRK_METHOD=load.method, WRK_BODY=load.body or "")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            return json.loads(line[len("WRK_JSON "):])
    raise RuntimeError(f"wrk gave no summary (exit {out.returncode}): {out.stderr.strip() or out.stdout.strip()}")


def measure(server: Server, load: Load, settings: Settings) -> dict:
    """Warm-up, then the measured run; returns req/s, p50/p99 (ms), errors and the server's peak RSS (KiB)."""
    if settings.warmup > 0:
        _wrk(server, load, settings.warmup, settings)
    server.reset_peak()
    rss_before = server.rss_kib()
    r = _wrk(server, load, settings.duration, settings)
    secs = r["duration_us"] / 1e6
    lat = r["latency_us"]
    errors = {k: v for k, v in r["errors"].items() if v}
    return {
        "rps": r["status_2xx"] / secs if secs else 0.0,
        "requests": r["requests"],
        "ok": r["status_2xx"],
        "non_2xx": r["status_other"],
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
    }
