"""Turns a run's results into the table (terminal, results.md, BENCHMARKS.md), results.json and the plot."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path

MB = 1000.0  # KiB -> MB (10^6 bytes) is KiB * 1.024 / 1000; see mb()
BEGIN = "<!-- BEGIN GENERATED RESULTS (bench/run writes this part) -->"
END = "<!-- END GENERATED RESULTS -->"


def mb(kib: float | None) -> float | None:
    return None if kib is None else kib * 1024 / 1e6


def _cmd(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def _relative(path: str) -> str:
    """A path inside the repository, as seen from its root (what a reader can reproduce)."""
    root = Path(__file__).resolve().parents[2]
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return path


def machine(cfg, sigil_built: bool, elapsed: float) -> dict:
    cpu, cores = "unknown", os.cpu_count()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    for line in lscpu.splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    os_name = "Linux"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    sigil_rev = None
    src = os.environ.get("SIGIL_SRC_DIR")
    if sigil_built and src:
        sigil_rev = _cmd(["git", "-C", src, "describe", "--always", "--dirty", "--abbrev=10"])
        if sigil_rev.startswith(("fatal", "unknown")):
            sigil_rev = None
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "cores": cores,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "os": os_name,
        "kernel": platform.release(),
        "rustc": _cmd(["rustc", "-V"]),
        "node": _cmd(["node", "-v"]),
        "python": platform.python_version(),
        "wrk": _cmd(["wrk", "-v"]).split(" [")[0],
        "sigil": (_relative(cfg.sigil_bin) if sigil_built else None),
        "sigil_rev": sigil_rev,
        "command": os.environ.get("BENCH_COMMAND", "./bench/run"),
        "elapsed_s": round(elapsed),
    }


# ---- rows -----------------------------------------------------------------------------------------------

def _fmt_rps(v):
    return "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:,.1f}")


def _fmt_ms(v):
    if v is None:
        return "—"
    return f"{v:.2f}" if v < 10 else (f"{v:.1f}" if v < 100 else f"{v:,.0f}")


def _fmt_mb(v):
    return "—" if v is None else f"{v:.1f}"


def _pair(a, b, fmt):
    return f"{fmt(a)} / {fmt(b)}"


def build_rows(res: dict) -> list[dict]:
    runs, startup, base = res["runs"], res["startup"], res["baselines"]

    def run(key):
        return runs.get(key)

    def val(r, k):
        return None if r is None else r.get(k)

    rows: list[dict] = []

    def add_rps(scenario, peer_name, s, p, targets=(), peer_lat=True, note="", key=None):
        ratio = None
        if val(s, "rps") is not None and val(p, "rps"):
            ratio = s["rps"] / p["rps"]
        rows.append({
            "key": key,
            "cores": (val(s, "cores_server"), val(p, "cores_server"), val(s, "cores_postgres"),
                      val(p, "cores_postgres")),
            "load": (val(s, "loadavg_before"), val(p, "loadavg_before")),
            "scenario": scenario, "peer": peer_name, "unit": "req/s",
            "sigil": val(s, "rps"), "peer_value": val(p, "rps"), "ratio": ratio,
            "p50": (val(s, "p50_ms"), val(p, "p50_ms") if peer_lat else None),
            "p99": (val(s, "p99_ms"), val(p, "p99_ms") if peer_lat else None),
            "rss": (mb(val(s, "peak_rss_kib")), mb(val(p, "peak_rss_kib"))),
            "targets": [t(s, p, ratio) for t in targets], "note": note,
        })

    def t_ratio(label, minimum, percent=False):
        def check(s, p, ratio):
            shown = None if ratio is None else (f"{ratio * 100:.0f}%" if percent else f"{ratio:.2f}×")
            return {"label": label, "ok": None if ratio is None else ratio >= minimum, "measured": shown}
        return check

    def t_p99(label, max_share):
        def check(s, p, ratio):
            a, b = val(s, "p99_ms"), val(p, "p99_ms")
            share = None if a is None or not b else a / b
            return {"label": label, "ok": None if share is None else share <= max_share,
                    "measured": None if share is None else f"p99 {share:.3f}× ({a:.2f} vs {b:.2f} ms)"}
        return check

    fastapi = {1: "FastAPI + PyJWT, 1 uvicorn worker", 2: "FastAPI + PyJWT, 2 uvicorn workers"}
    algs = {"hs256": "HS256", "eddsa": "EdDSA"}
    counts = res.get("distinct_tokens", {})

    def variant(alg, many):
        if not many:
            return f"{algs[alg]} JWT, one token"
        n = counts.get(algs[alg])
        return f"{algs[alg]} JWT, {f'{n:,}' if n else 'many'} distinct tokens in rotation"

    # ---- like for like first: many users, each with their own tasks and token, caches off -----------
    n_users = res.get("users") or 0
    n_tasks = res.get("user_tasks") or 0
    who = f"{n_users:,} users × {n_tasks} tasks, a token each, requests spread over all users"
    sigil_does = {
        "sqlite": "Sigil: parse the request, verify the JWT signature and claims ({alg}), check `sub` against "
                  "the path, one SQLite `SELECT` of the user's rows (rusqlite on the request's thread, cached prepared statement), serialize JSON. "
                  "FastAPI: PyJWT verifies the same token ({alg}, same claims), the same check, one "
                  "`SELECT` on the same database file (Python's sqlite3), Pydantic model, JSON.",
        "postgres": "Sigil: verify the JWT ({alg}), check `sub`, one PostgreSQL `SELECT` (sqlx pool, prepared "
                    "statement cached per connection), serialize JSON. FastAPI: PyJWT verifies the same "
                    "token, one `SELECT` on the same PostgreSQL database through an asyncpg pool "
                    "(statement cached per connection), Pydantic model, JSON.",
    }
    for backend, bname in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        for alg in ("hs256", "eddsa"):
            sig = run(f"lfl.{backend}.sigil_{alg}_nocache")
            for w in (1, 2):
                if backend == "sqlite":
                    tg = [t_ratio(f"req/s ≥ {10 if w == 1 else 5}× peer", 10 if w == 1 else 5),
                          t_p99("p99 ≤ 0.1× peer", 0.1)]
                else:
                    tg = [t_ratio("req/s ≥ 10× peer", 10), t_p99("p99 ≤ 0.1× peer", 0.1)] if w == 1 else []
                add_rps(f"**Like for like**, {bname}: `GET /api/{{id}}/tasks`, {algs[alg]}, {who}; "
                        "Sigil with **both caches off**",
                        f"FastAPI + PyJWT{' + asyncpg' if backend == 'postgres' else ''}, {w} uvicorn "
                        f"worker{'s' if w > 1 else ''}",
                        sig, run(f"lfl.{backend}.fastapi_{alg}_w{w}"), targets=tg,
                        note=sigil_does[backend].format(alg=algs[alg]), key=f"lfl.{backend}.{alg}.w{w}")
    for backend, bname in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        for alg in ("hs256", "eddsa"):
            cached = run(f"lfl.{backend}.sigil_{alg}_cached")
            counts = (cached or {}).get("caches") or {}

            def rate(c):
                if not c:
                    return "off"
                total = c["hits"] + c["misses"]
                return f"{100 * c['hits'] / total:.1f}% hits ({c['hits']:,} of {total:,})" if total else "no lookups"

            add_rps(f"What the caches add, {bname}: the same requests, {algs[alg]}, Sigil with both caches on",
                    "Sigil, both caches off (row above)", cached, run(f"lfl.{backend}.sigil_{alg}_nocache"),
                    note=f"Hit rates over warm-up + run: verified-token cache {rate(counts.get('token_cache'))}; "
                         f"task-list cache {rate(counts.get('tasks_cache'))}. A hit skips the signature check "
                         "(token) or the database read (tasks); FastAPI has neither cache.")
    ba_does = ("Both: look the session token up in the database, answer the session and user. Better Auth "
               "also signs a fresh JWT into `set-auth-jwt` on every get-session (its default).")
    # Each side on the same kind of database: Sigil on SQLite beside Better Auth on SQLite, Sigil on
    # PostgreSQL beside Better Auth on PostgreSQL.
    ba_db = {"sqlite": ("sqlite", "SQLite (Kysely, better-sqlite3, WAL)"),
             "postgresql": ("pg", "PostgreSQL (Kysely, pg Pool)")}
    for sigil_key, sname in (("sigil.get_session", "SQLite"), ("lfl.postgres.sigil_get_session", "PostgreSQL")):
        bkey, bname_ = ba_db[sname.lower()]
        for w in (1, 2):
            add_rps(f"`GET /api/auth/get-session`, Sigil on {sname}", f"Better Auth 1.7.25, {bname_}, {w} Node "
                    f"process{'es' if w > 1 else ''}", run(sigil_key), run(f"better_auth.{bkey}_w{w}.get_session"),
                    targets=[t_ratio(f"req/s ≥ {20 if w == 1 else 10}× peer", 20 if w == 1 else 10)],
                    note=ba_does, key=f"get_session.{sname.lower()}.w{w}")
    for sigil_key, sname in (("sigil.token", "SQLite"), ("lfl.postgres.sigil_token", "PostgreSQL")):
        bkey, bname_ = ba_db[sname.lower()]
        for w in (1, 2):
            add_rps(f"`GET /api/auth/token` (EdDSA JWT), Sigil on {sname}", f"Better Auth 1.7.25, {bname_}, {w} "
                    f"Node process{'es' if w > 1 else ''}", run(sigil_key), run(f"better_auth.{bkey}_w{w}.token"),
                    targets=[t_ratio(f"req/s ≥ {20 if w == 1 else 10}× peer", 20 if w == 1 else 10)],
                    note="Both: look the session up, sign an EdDSA JWT with the user's claims.",
                    key=f"token.{sname.lower()}.w{w}")

    # ---- the single-user rows (one user's tasks; the caches answer most requests) -----------------------
    one_user = ("One user: Sigil's task-list cache answers every request after the first, so these rows "
                "measure the caches, not a database read per request as FastAPI does.")
    for many in (False, True):
        m = "_many" if many else ""
        for alg in ("hs256", "eddsa"):
            for w in (1, 2):
                add_rps(f"Protected `GET /api/{{id}}/tasks`, {variant(alg, many)}, one user", fastapi[w],
                        run(f"sigil.tasks_{alg}{m}"), run(f"fastapi.tasks_{alg}{m}_w{w}"),
                        note=one_user)
    for w in (1, 2):
        add_rps("Protected `GET /api/{id}/tasks`, HS256, one token, **no caches** (`SIGIL_TOKEN_CACHE=off`, "
                "`SIGIL_TASKS_CACHE=off`: a signature check and an SQLite read per request, as FastAPI does)",
                fastapi[w], run("sigil.tasks_hs256_nocache"), run(f"fastapi.tasks_hs256_w{w}"),
                note="Context: what the two caches are worth; the targets apply to the default configuration.")
    add_rps("`GET /api/auth/get-session` (Bearer session token), Sigil on SQLite", "Better Auth 1.7.25, memory "
            "adapter, 1 process", run("sigil.get_session"), run("better_auth.get_session"),
            note="Better Auth's memory adapter keeps everything in its process: not how it is deployed.")
    add_rps("`GET /api/auth/token` (JWT issuance, EdDSA), Sigil on SQLite", "Better Auth 1.7.25, memory adapter, "
            "1 process", run("sigil.token"), run("better_auth.token"))
    a2, sc = base.get("argon2"), base.get("scrypt")
    hash_note = ("Sigil: argon2id m=19456 KiB, t=2, p=1 (19 MiB); Better Auth: scrypt N=16384, r=16, p=1 "
                 "(32 MiB). Each side's default, both memory-hard.")
    add_rps("`POST /api/auth/sign-in/email`", "Better Auth 1.7.25", run("sigil.sign_in"),
            run("better_auth.sign_in"), note=hash_note)
    bare = None
    if a2:
        bare = {"rps": a2["hashes_per_sec"], "p50_ms": a2["p50_ms"], "p99_ms": a2["p99_ms"]}
    add_rps("`POST /api/auth/sign-in/email` vs a bare hash", "bare argon2id hash, same parameters "
            "(hashes/s)", run("sigil.sign_in"), bare,
            targets=[t_ratio("req/s ≥ 1/1.2 of bare hashes/s", 1 / 1.2)])
    if sc:
        ba_bare = {"rps": sc["hashes_per_sec"], "p50_ms": sc["p50_ms"], "p99_ms": sc["p99_ms"]}
        rows.append({
            "scenario": "(context) Better Auth sign-in vs a bare scrypt hash", "peer": "bare scrypt hash, same parameters "
            "(hashes/s)", "unit": "req/s",
            "sigil": val(run("better_auth.sign_in"), "rps"), "peer_value": ba_bare["rps"],
            "ratio": (run("better_auth.sign_in")["rps"] / ba_bare["rps"]) if run("better_auth.sign_in") else None,
            "p50": (val(run("better_auth.sign_in"), "p50_ms"), ba_bare["p50_ms"]),
            "p99": (val(run("better_auth.sign_in"), "p99_ms"), ba_bare["p99_ms"]),
            "rss": (mb(val(run("better_auth.sign_in"), "peak_rss_kib")), None), "targets": [],
            "note": "Left column is Better Auth here, not Sigil.",
        })
    add_rps("Unauthenticated `GET /api/auth/ok` (ceiling)", "Better Auth 1.7.25", run("sigil.ok"),
            run("better_auth.ok"))
    for many in (False, True):
        m = "_many" if many else ""
        for alg in ("hs256", "eddsa"):
            add_rps(f"Verification cost: protected GET ({variant(alg, many)}) vs the ceiling",
                    "Sigil's own unauthenticated `/api/auth/ok`", run(f"sigil.tasks_{alg}{m}"), run("sigil.ok"),
                    targets=[t_ratio("≥ 80% of the ceiling", 0.8, percent=True)])
    for alg in ("hs256", "eddsa"):
        add_rps(f"(diagnostic) 403 path: valid {algs[alg]} token on another user's tasks, verification without "
                "the database query", "Sigil's own unauthenticated `/api/auth/ok`", run(f"sigil.forbidden_{alg}"),
                run("sigil.ok"), note="Counts 403 answers: the guard and the user check, no SQLite.")

    def start_row(metric, unit, sigil_v, peer_key, peer_name, fmt_key, target=None):
        pv = startup.get(peer_key, {}).get(fmt_key)
        if fmt_key == "idle_rss_kib":
            pv = mb(pv)
        ratio = (sigil_v / pv) if (sigil_v is not None and pv) else None
        targets = []
        if target:
            label, limit = target
            targets.append({"label": label, "ok": None if sigil_v is None else sigil_v <= limit,
                            "measured": None if sigil_v is None else _fmt_value(sigil_v, unit)})
        rows.append({"scenario": metric, "peer": peer_name, "unit": unit, "sigil": sigil_v, "peer_value": pv,
                     "ratio": ratio, "p50": (None, None), "p99": (None, None), "rss": (None, None),
                     "targets": targets, "note": ""})

    sg = startup.get("sigil", {})
    cold_label = "Cold start: spawn to first 200 (median)"
    runs_n = sg.get("cold_runs") or startup.get("fastapi_w1", {}).get("cold_runs")
    if runs_n:
        cold_label = f"Cold start: spawn to first 200 (median of {runs_n})"
    # The target is Sigil's own number: it is checked once, on the first row of each group.
    for i, (key, name) in enumerate((("fastapi_w1", "FastAPI, 1 uvicorn worker"),
                                     ("better_auth", "Better Auth 1.7.25"))):
        start_row(cold_label, "ms", sg.get("cold_ms_median"), key, name, "cold_ms_median",
                  target=("Sigil ≤ 100 ms", 100.0) if i == 0 else None)
    for i, (key, name) in enumerate((("fastapi_w1", "FastAPI, 1 uvicorn worker"),
                                     ("fastapi_w2", "FastAPI, 2 uvicorn workers"),
                                     ("better_auth", "Better Auth 1.7.25"))):
        start_row("Idle RSS after start-up (1 s idle)", "MB", mb(sg.get("idle_rss_kib")), key, name,
                  "idle_rss_kib", target=("Sigil ≤ 20 MB", 20.0) if i == 0 else None)
    return rows


def _fmt_value(v, unit):
    if unit == "req/s":
        return _fmt_rps(v)
    if unit == "ms":
        return "—" if v is None else f"{_fmt_ms(v)} ms"
    return "—" if v is None else f"{v:.1f} MB"


def _fmt_ratio(row):
    r = row["ratio"]
    if r is None:
        return "—"
    if row["scenario"].startswith(("Verification cost", "(diagnostic) 403")):
        return f"{r * 100:.0f}%"
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def _status(targets):
    if not targets:
        return "", ""
    label = "; ".join(t["label"] for t in targets)
    marks = []
    for t in targets:
        marks.append("n/a" if t["ok"] is None else ("✅ reached" if t["ok"] else "❌ missed"))
    return label, "; ".join(marks)


def _fmt_cores(row) -> str:
    """Cores the server used (its processes' utime+stime over the run), plus PostgreSQL's backends, and
    the server's CPU time per answered request (µs): the figure a loaded machine skews least."""
    c = row.get("cores")
    if not c or (c[0] is None and c[1] is None) or row.get("unit") != "req/s":
        return ""
    f = lambda v: "—" if v is None else f"{v:.2f}"
    out = f"{f(c[0])} / {f(c[1])}"
    if (c[2] or 0) >= 0.05 or (c[3] or 0) >= 0.05:
        out += f" (+ PostgreSQL {f(c[2])} / {f(c[3])})"

    def per_req(cores, rps):
        return "—" if not cores or not rps else f"{cores * 1e6 / rps:,.0f}"

    out += f"; CPU µs/req {per_req(c[0], row.get('sigil'))} / {per_req(c[1], row.get('peer_value'))}"
    return out


def _fmt_load(ld) -> str:
    if not ld or all(v is None for v in ld):
        return ""
    return " / ".join("—" if v is None else f"{v:.1f}" for v in ld)


def table_md(rows: list[dict]) -> str:
    head = ("| Scenario | Peer | Sigil | Peer | Sigil/peer | p50 ms Sigil / peer | p99 ms Sigil / peer "
            "| cores Sigil / peer | peak RSS MB Sigil / peer | load | Target | Reached |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        target, mark = _status(r["targets"])
        lat = any(v is not None for v in r["p50"] + r["p99"])
        rss = any(v is not None for v in r["rss"])
        lines.append("| " + " | ".join([
            r["scenario"] + (f" <br><sub>{r['note']}</sub>" if r["note"] else ""),
            r["peer"],
            _fmt_value(r["sigil"], r["unit"]),
            _fmt_value(r["peer_value"], r["unit"]),
            _fmt_ratio(r),
            _pair(*r["p50"], _fmt_ms) if lat else "",
            _pair(*r["p99"], _fmt_ms) if lat else "",
            _fmt_cores(r),
            _pair(*r["rss"], _fmt_mb) if rss else "",
            _fmt_load(r.get("load")),
            target, mark,
        ]) + " |")
    return "\n".join(lines)


def table_text(rows: list[dict]) -> str:
    cols = ["Scenario", "Peer", "Sigil", "Peer", "Sigil/peer", "p50 ms S/P", "p99 ms S/P", "peak RSS MB S/P",
            "Target", "Reached"]
    data = []
    for r in rows:
        target, mark = _status(r["targets"])
        lat = any(v is not None for v in r["p50"] + r["p99"])
        rss = any(v is not None for v in r["rss"])
        scen = re.sub(r"`", "", r["scenario"])
        data.append([scen[:72], r["peer"][:44], _fmt_value(r["sigil"], r["unit"]),
                     _fmt_value(r["peer_value"], r["unit"]), _fmt_ratio(r),
                     _pair(*r["p50"], _fmt_ms) if lat else "", _pair(*r["p99"], _fmt_ms) if lat else "",
                     _pair(*r["rss"], _fmt_mb) if rss else "", target, mark.replace("✅ ", "").replace("❌ ", "")])
    widths = [max(len(c), *(len(d[i]) for d in data)) for i, c in enumerate(cols)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([fmt(cols), fmt(["-" * w for w in widths])] + [fmt(d) for d in data])


def targets_md(rows: list[dict]) -> str:
    reached, missed, unknown = [], [], []
    for r in rows:
        for t in r["targets"]:
            peer = "" if r["unit"] != "req/s" or " vs " in r["scenario"] else f" vs {r['peer']}"
            item = f"{r['scenario']}{peer}: {t['label']}; measured {t['measured'] or '—'}"
            (unknown if t["ok"] is None else reached if t["ok"] else missed).append(item)
    out = [f"**Targets: {len(reached)} reached, {len(missed)} missed, {len(unknown)} not measured.**", ""]
    for title, items in (("Missed", missed), ("Reached", reached), ("Not measured", unknown)):
        if items:
            out.append(f"{title}:")
            out += [f"- {i}" for i in items]
            out.append("")
    return "\n".join(out).rstrip()


# ---- plot -----------------------------------------------------------------------------------------------

def plot(res: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.rcParams["svg.fonttype"] = "none"  # text stays text: a small, readable, diffable SVG
        plt.rcParams["svg.hashsalt"] = "sigil-bench"  # stable element ids from run to run
    except ImportError:
        return False
    runs, base = res["runs"], res["baselines"]
    rps = lambda k: (runs.get(k) or {}).get("rps")
    cats = ["GET tasks\nHS256\none token", "GET tasks\nHS256\ndistinct tokens", "GET tasks\nEdDSA\none token",
            "GET tasks\nEdDSA\ndistinct tokens", "get-session", "token", "sign-in/email", "/api/auth/ok\n(ceiling)"]
    tasks = lambda side, w="": [rps(f"{side}.tasks_{a}{m}{w}") for a in ("hs256", "eddsa") for m in ("", "_many")]
    series = {
        "Sigil": tasks("sigil") + [rps("sigil.get_session"), rps("sigil.token"), rps("sigil.sign_in"),
                                   rps("sigil.ok")],
        "FastAPI, 1 worker": tasks("fastapi", "_w1") + [None] * 4,
        "FastAPI, 2 workers": tasks("fastapi", "_w2") + [None] * 4,
        "Better Auth": [None] * 4 + [rps("better_auth.get_session"), rps("better_auth.token"),
                                     rps("better_auth.sign_in"), rps("better_auth.ok")],
        "bare argon2id hash": [None] * 6 + [(base.get("argon2") or {}).get("hashes_per_sec"), None],
    }
    colors = {"Sigil": "#c2410c", "FastAPI, 1 worker": "#0f766e", "FastAPI, 2 workers": "#14b8a6",
              "Better Auth": "#1d4ed8", "bare argon2id hash": "#9ca3af"}
    fig, ax = plt.subplots(figsize=(12, 5.5))
    width = 0.8 / 3
    labelled = set()
    for c in range(len(cats)):
        present = [(name, values[c]) for name, values in series.items() if values[c]]
        for i, (name, v) in enumerate(present):
            x = c + (i - (len(present) - 1) / 2) * width
            bar = ax.bar([x], [v], width, color=colors[name], label=None if name in labelled else name)
            labelled.add(name)
            ax.annotate(_fmt_rps(v), (x, v), ha="center", va="bottom", fontsize=7, rotation=90,
                        xytext=(0, 2), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels(cats)
    ax.set_ylabel("requests per second (log scale; higher is better)")
    m = res["meta"]
    ax.set_title(f"Sigil vs peers, req/s per scenario — {m['cpu']}, {m['cores']} cores, {m['date']}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_ylim(top=ax.get_ylim()[1] * 3)
    fig.tight_layout()
    fig.savefig(path, format=path.suffix.lstrip("."), metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(fig)
    return True


# ---- files ----------------------------------------------------------------------------------------------

def results_md(res: dict, rows: list[dict], plot_rel: str | None) -> str:
    m, s = res["meta"], res["settings"]
    sigil = f"`{m['sigil']}`" + (f" (source {m['sigil_rev']})" if m.get("sigil_rev") else "") if m["sigil"] \
        else "not built in this run"
    parts = [
        f"Latest run: {m['date']}, `{m['command']}`, {m['elapsed_s']} s for all scenarios.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['os']}, Linux {m['kernel']}",
        f"- Tools: {m['wrk']}, {m['rustc']}, Node {m['node']}, Python {m['python']}",
        f"- Sigil: {sigil}",
        f"- Load: wrk, {s['wrk_threads']} thread, {s['connections']} keep-alive connections "
        f"({s['signin_connections']} for sign-in), {s['warmup']:g} s warm-up then {s['duration']:g} s measured, "
        f"CPU pinning: {s['pin']}, priority nice {s.get('nice', 0)} for servers, wrk and baselines. "
        "req/s counts 2xx answers only.",
        "",
        table_md(rows),
        "",
        targets_md(rows),
    ]
    if res["notes"]:
        parts += ["", "Notes from this run:"] + [f"- {n}" for n in res["notes"]]
    if plot_rel:
        parts += ["", f"![req/s per scenario, Sigil vs peers]({plot_rel})"]
    return "\n".join(parts) + "\n"


QUICK_KEYS = [
    ("lfl.sqlite.sigil_hs256_nocache", "Sigil, SQLite, HS256, caches off, GET tasks (many users)"),
    ("lfl.sqlite.sigil_eddsa_nocache", "Sigil, SQLite, EdDSA, caches off, GET tasks (many users)"),
    ("lfl.sqlite.fastapi_hs256_w1", "FastAPI 1 worker, SQLite, HS256, GET tasks (many users)"),
    ("lfl.sqlite.fastapi_eddsa_w1", "FastAPI 1 worker, SQLite, EdDSA, GET tasks (many users)"),
    ("lfl.postgres.sigil_hs256_nocache", "Sigil, PostgreSQL, HS256, caches off, GET tasks"),
    ("lfl.postgres.sigil_eddsa_nocache", "Sigil, PostgreSQL, EdDSA, caches off, GET tasks"),
    ("lfl.postgres.fastapi_hs256_w1", "FastAPI 1 worker + asyncpg, PostgreSQL, HS256, GET tasks"),
    ("lfl.postgres.fastapi_eddsa_w1", "FastAPI 1 worker + asyncpg, PostgreSQL, EdDSA, GET tasks"),
    ("lfl.postgres.sigil_get_session", "Sigil, PostgreSQL, get-session"),
    ("better_auth.pg_w1.get_session", "Better Auth 1 process, PostgreSQL, get-session"),
]
QUICK_RATIOS = [
    ("Sigil/FastAPI, SQLite, HS256", "lfl.sqlite.sigil_hs256_nocache", "lfl.sqlite.fastapi_hs256_w1"),
    ("Sigil/FastAPI, SQLite, EdDSA", "lfl.sqlite.sigil_eddsa_nocache", "lfl.sqlite.fastapi_eddsa_w1"),
    ("Sigil/FastAPI, PostgreSQL, HS256", "lfl.postgres.sigil_hs256_nocache", "lfl.postgres.fastapi_hs256_w1"),
    ("Sigil/FastAPI, PostgreSQL, EdDSA", "lfl.postgres.sigil_eddsa_nocache", "lfl.postgres.fastapi_eddsa_w1"),
    ("Sigil/Better Auth, get-session, PostgreSQL", "lfl.postgres.sigil_get_session", "better_auth.pg_w1.get_session"),
]


def last_run_summary(res: dict) -> dict:
    """What bench/quick compares with: the key rows' req/s and p99, the ratios, and the machine load."""
    runs = res["runs"]
    def cpu_us(r):
        return round(r.get("cores_server", 0) * 1e6 / r["rps"], 1) if r.get("rps") else None

    pick = {k: {"rps": round(runs[k]["rps"], 1), "p99_ms": round(runs[k]["p99_ms"], 3),
                "cpu_us_per_request": cpu_us(runs[k]), "loadavg": runs[k].get("loadavg_before")}
            for k, _ in QUICK_KEYS if k in runs}
    ratios = {name: round(runs[a]["rps"] / runs[b]["rps"], 3) for name, a, b in QUICK_RATIOS
              if a in runs and b in runs and runs[b]["rps"]}
    # peer's CPU per request ÷ Sigil's: what a loaded machine skews least
    cpu_ratios = {name: round(cpu_us(runs[b]) / cpu_us(runs[a]), 3) for name, a, b in QUICK_RATIOS
                  if a in runs and b in runs and cpu_us(runs[a]) and cpu_us(runs[b])}
    return {"date": res["meta"]["date"], "sigil_rev": res["meta"].get("sigil_rev"),
            "users": res.get("users"), "settings": {k: res["settings"][k] for k in ("duration", "warmup",
                                                                                     "connections")},
            "rows": pick, "ratios": ratios, "cpu_ratios": cpu_ratios}


def quick_compare(res: dict, out: Path, last_path: Path) -> int:
    """Prints the quick run's key rows and ratios beside the last full run's (bench/last-run.json)."""
    out.mkdir(parents=True, exist_ok=True)
    now = last_run_summary(res)
    (out / "quick.json").write_text(json.dumps(now, indent=2) + "\n")
    try:
        last = json.loads(last_path.read_text())
    except (OSError, ValueError):
        last = {"rows": {}, "ratios": {}}
        print(f"no last run recorded ({last_path}): nothing to compare with; run ./bench/run once")
    print(f"\nbench/quick vs the last full run ({last.get('date', '—')}, source {last.get('sigil_rev', '—')}); "
          "req/s, then this run ÷ last run")
    for key, name in QUICK_KEYS:
        a, b = now["rows"].get(key), last["rows"].get(key)
        if not a:
            continue
        change = f"{a['rps'] / b['rps']:.2f}× last" if b and b.get("rps") else "—"
        print(f"  {name:<62} {a['rps']:>9,.0f}  ({change}; p99 {a['p99_ms']:.2f} ms; load {a['loadavg']})")
    print("ratios (the numbers to watch: both sides share this machine's load)")
    bad = 0
    for name, _, _ in QUICK_RATIOS:
        a, b = now["ratios"].get(name), last["ratios"].get(name)
        if a is None:
            continue
        change = f"{a / b:.2f}× last" if b else "—"
        flag = ""
        if b and a / b < 0.8:
            flag, bad = "  <-- more than 20% below the last run", bad + 1
        print(f"  {name:<62} {a:>8.2f}×  ({change}){flag}")
    print("CPU per request, peer ÷ Sigil (each server's own CPU time over answered requests)")
    for name, _, _ in QUICK_RATIOS:
        a, b = now["cpu_ratios"].get(name), last.get("cpu_ratios", {}).get(name)
        if a is None:
            continue
        print(f"  {name:<62} {a:>8.2f}×  ({f'{a / b:.2f}× last' if b else '—'})")
    print(f"\nwritten: {out / 'quick.json'}")
    return 0


def write_all(res: dict, out: Path, root: Path, bench: Path, update_docs: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = build_rows(res)
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    if update_docs:
        (bench / "last-run.json").write_text(json.dumps(last_run_summary(res), indent=2) + "\n")
    have_plot = plot(res, out / "plot.svg")
    (out / "results.md").write_text(results_md(res, rows, "plot.svg" if have_plot else None))
    print()
    print(table_text(rows))
    print()
    print(targets_md(rows).replace("**", ""))
    if res["notes"]:
        print("\nNotes:\n" + "\n".join(f"- {n}" for n in res["notes"]))
    print(f"\nwritten: {out / 'results.json'}, {out / 'results.md'}" + (f", {out / 'plot.svg'}" if have_plot else ""))
    if not update_docs:
        return
    doc = root / "BENCHMARKS.md"
    plot_rel = None
    if have_plot:
        shutil.copyfile(out / "plot.svg", bench / "plot.svg")
        plot_rel = "bench/plot.svg"
    generated = f"{BEGIN}\n{results_md(res, rows, plot_rel)}{END}"
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + generated + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + generated + "\n"
    doc.write_text(text)
    print(f"updated: {doc}" + (f", {bench / 'plot.svg'}" if have_plot else ""))
