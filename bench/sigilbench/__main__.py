"""Sigil side-by-side benchmark: runs every scenario against Sigil and its peers, prints and writes the table.

Started by `bench/run` (which builds and installs what this needs); run alone as
`bench/.venv/bin/python -m sigilbench` from `bench/`. Settings come from the environment (see `Config`).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import load, report
from .httpc import call, expect
from .procs import Server, free_port, run_prioritized, stop_all

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
OUT = BENCH / "out"

PASSWORD = "correct-horse-battery-staple"
EMAIL = "bench@example.com"
SIGNIN_BODY = json.dumps({"email": EMAIL, "password": PASSWORD})
TASKS = [
    {"title": "Write the benchmark", "description": "Sigil against FastAPI and Better Auth"},
    {"title": "Read the numbers", "description": "req/s, p50, p99, peak RSS"},
    {"title": "Ship it", "description": None},
]


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class Config:
    """Every knob, from the environment; the defaults are what BENCHMARKS.md reports."""

    duration: float = field(default_factory=lambda: _env_float("BENCH_DURATION", 10))
    warmup: float = field(default_factory=lambda: _env_float("BENCH_WARMUP", 2))
    connections: int = field(default_factory=lambda: _env_int("BENCH_CONNECTIONS", 32))
    signin_connections: int = field(default_factory=lambda: _env_int("BENCH_SIGNIN_CONNECTIONS", 2))
    wrk_threads: int = field(default_factory=lambda: _env_int("BENCH_WRK_THREADS", 1))
    cold_runs: int = field(default_factory=lambda: _env_int("BENCH_COLD_RUNS", 10))
    baseline_seconds: float = field(default_factory=lambda: _env_float("BENCH_BASELINE_SECONDS", 5))
    wait_quiet: float = field(default_factory=lambda: _env_float("BENCH_WAIT_QUIET", 0))
    harvest_seconds: float = field(default_factory=lambda: _env_float("BENCH_HARVEST_SECONDS", 4))
    pin: str = field(default_factory=lambda: os.environ.get("BENCH_PIN", "none"))
    # Like-for-like rows: this many users, each with `user_tasks` tasks and a token of their own.
    users: int = field(default_factory=lambda: _env_int("BENCH_USERS", 2000))
    user_tasks: int = field(default_factory=lambda: _env_int("BENCH_USER_TASKS", 5))
    # PostgreSQL for the like-for-like and Better Auth rows ("" or "off": SQLite and memory only).
    pg_url: str = field(default_factory=lambda: os.environ.get("BENCH_PG_URL",
                                                               "postgres://postgres@127.0.0.1:5432/postgres"))
    # quick: only the regression guard's rows (bench/quick)
    quick: bool = field(default_factory=lambda: os.environ.get("BENCH_QUICK", "0") == "1")
    # Servers, wrk, the hash baselines and the harness itself run at this priority. As root the default
    # puts them ahead of other work on a shared machine (compilers, tests), the same for every side.
    nice: int = field(default_factory=lambda: _env_int("BENCH_NICE", -19 if os.geteuid() == 0 else 0))
    timeout: int = field(default_factory=lambda: _env_int("BENCH_TIMEOUT", 1500))
    only: set[str] = field(
        default_factory=lambda: set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
    )
    sigil_bin: str | None = field(default_factory=lambda: os.environ.get("SIGIL_BIN") or None)
    argon2_bin: str = field(
        default_factory=lambda: os.environ.get(
            "ARGON2_BASELINE_BIN", str(BENCH / ".build" / "argon2-baseline" / "release" / "argon2-baseline")
        )
    )
    update_docs: bool = field(default_factory=lambda: os.environ.get("BENCH_UPDATE_DOCS", "1") != "0")

    def wants(self, group: str) -> bool:
        return not self.only or group in self.only

    @property
    def server_cpus(self) -> str | None:
        return "1" if self.pin == "split" else None

    @property
    def load_cpus(self) -> str | None:
        return "0" if self.pin == "split" else None


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs (0-100) busy over `seconds`, from /proc/stat: other work on the machine skews results."""
    def sample():
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = f[3] + (f[4] if len(f) > 4 else 0)
        return sum(f), idle

    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 100.0 * (1 - (i1 - i0) / max(1, t1 - t0))


def rand_id(n: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


class Bench:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.work = OUT / "work"
        self.logs = OUT / "logs"
        self.runs: dict[str, dict] = {}
        self.startup: dict[str, dict] = {}
        self.baselines: dict[str, dict] = {}
        self.notes: list[str] = []
        self.load_settings = load.Settings(cfg.duration, cfg.warmup, cfg.wrk_threads, cfg.load_cpus, cfg.nice)
        # What the FastAPI peer verifies and serves, filled from Sigil (or made up without it).
        self.fastapi_inputs: dict[str, dict] = {}
        self.token_counts: dict[str, int] = {}
        self.busy_runs: list[str] = []
        self.pg_databases: list[str] = []
        self.lfl_users = 0
        self.sigil_built = bool(cfg.sigil_bin and Path(cfg.sigil_bin).is_file())

    # ---- helpers ---------------------------------------------------------------------------------
    def server(self, name: str, cmd: list[str], port: int, ready_path: str, env=None, cwd=None) -> Server:
        return Server(
            name=name, cmd=cmd, port=port, ready_path=ready_path, env=env or {}, cwd=cwd,
            log_path=self.logs / f"{name}.log", cpus=self.cfg.server_cpus, nice=self.cfg.nice,
        )

    def scenario(self, key: str, server: Server, lo: load.Load, check=None) -> None:
        """Checks one request by hand (status 200 and `check(body)`), then measures under load."""
        headers = {k.lower(): v for k, v in lo.headers.items()}
        bearer = headers.get("authorization", "")[len("Bearer "):] or None
        body = json.loads(lo.body) if lo.body else None
        path = lo.path
        if lo.tokens_file:
            bearer = Path(lo.tokens_file).read_text().split("\n", 1)[0]
        if lo.users_file:
            user_id, bearer = Path(lo.users_file).read_text().split("\n", 1)[0].split()
            path = f"/api/{user_id}/tasks"
        r = call(lo.method, server.base + path, body=body, bearer=bearer)
        expect(r, f"{key}: probe {lo.method} {lo.path}", status=lo.expect_status or 200)
        if check is not None and not check(r.json()):
            raise RuntimeError(f"{key}: unexpected answer to the probe: {r!r}")
        log(f"  {key}: {lo.method} {path}{' (per user)' if lo.users_file else ''}, {lo.connections} connections, "
            f"{self.cfg.warmup:g} s warm-up + {self.cfg.duration:g} s")
        m = load.measure(server, lo, self.load_settings)
        m["server"] = server.name
        self.runs[key] = m
        bad = m["unexpected_status"] + sum(m["errors"].values())
        flag = f"  (!! {m['unexpected_status']} unexpected statuses, errors {m['errors']})" if bad else ""
        log(f"    {m['rps']:>10.0f} req/s   p50 {m['p50_ms']:.2f} ms   p99 {m['p99_ms']:.2f} ms   "
            f"peak RSS {m['peak_rss_kib'] * 1.024 / 1000:.1f} MB   CPU: server {m['cpu_server_pct']:.0f}%, "
            f"wrk {m['cpu_wrk_pct']:.0f}%, other {m['cpu_other_pct']:.0f}%; cores: server {m['cores_server']:.2f}, "
            f"postgres {m['cores_postgres']:.2f}; load {m['loadavg_before']:.1f}{flag}")
        if m["cpu_other_pct"] > 10:
            self.busy_runs.append(f"{key} ({m['cpu_other_pct']:.0f}%)")
        if bad:
            self.notes.append(f"{key}: {m['unexpected_status']} answers with another status than "
                              f"{m['expect_status']} and socket errors {m['errors']} out of {m['requests']} "
                              "requests (not counted in req/s).")

    def cold_start(self, key: str, make: "callable[[int], Server]", runs: int) -> None:
        """Spawns a fresh server `runs` times; ms from spawn to its first 200 on the ready path."""
        times = []
        for i in range(runs):
            s = make(i)
            s.start()
            try:
                times.append(s.wait_ready(timeout=60, poll=0.0005))
            finally:
                s.stop()
        entry = self.startup.setdefault(key, {})
        entry.update(cold_ms=times, cold_ms_median=statistics.median(times), cold_ms_min=min(times),
                     cold_ms_max=max(times), cold_runs=runs)
        log(f"  {key}: cold start median {entry['cold_ms_median']:.1f} ms "
            f"(min {min(times):.1f}, max {max(times):.1f}, {runs} runs)")

    def idle(self, key: str, server: Server, settle: float = 1.0) -> None:
        time.sleep(settle)
        rss = server.rss_kib()
        self.startup.setdefault(key, {})["idle_rss_kib"] = rss
        log(f"  {key}: idle RSS {rss * 1.024 / 1000:.1f} MB")

    # ---- baselines -------------------------------------------------------------------------------
    def run_baselines(self) -> None:
        n = self.cfg.signin_connections
        secs = self.cfg.baseline_seconds
        taskset = load._prefix(self.cfg.server_cpus)
        log(f"baselines: bare password hashes, {n} at a time, {secs:g} s each")
        if Path(self.cfg.argon2_bin).is_file():
            out = run_prioritized(taskset + [self.cfg.argon2_bin, "--threads", str(n), "--seconds", str(secs)],
                                  self.cfg.nice, timeout=secs + 60)
            self.baselines["argon2"] = json.loads(out.stdout)
            b = self.baselines["argon2"]
            log(f"  argon2id m={b['m_kib']} t={b['t']} p={b['p']}: {b['hashes_per_sec']:.1f} hashes/s, "
                f"p50 {b['p50_ms']:.1f} ms")
        else:
            self.notes.append(f"argon2 baseline binary missing ({self.cfg.argon2_bin}); sign-in has no floor.")
        out = run_prioritized(taskset + ["node", str(BENCH / "better-auth" / "scrypt-baseline.mjs"), str(n), str(secs)],
                              self.cfg.nice, timeout=secs + 60)
        self.baselines["scrypt"] = json.loads(out.stdout)
        b = self.baselines["scrypt"]
        log(f"  scrypt N={b['N']} r={b['r']} p={b['p']}: {b['hashes_per_sec']:.1f} hashes/s, p50 {b['p50_ms']:.1f} ms")

    # ---- Sigil -----------------------------------------------------------------------------------
    def sigil_server(self, name: str, alg: str, db: Path | str, port: int | None = None,
                     extra: dict | None = None) -> Server:
        port = port or free_port()
        env = {
            "SIGIL_ADDR": f"127.0.0.1:{port}",
            "DATABASE_URL": db if isinstance(db, str) else f"sqlite://{db}?mode=rwc",
            "SIGIL_BASE_URL": f"http://127.0.0.1:{port}",
            "SIGIL_SECRET": "bench-cookie-secret-" + "s" * 40,
            "SIGIL_JWT_ALG": alg,
            "SIGIL_JWT_SECRET": "bench-jwt-secret-" + "j" * 40,
            "SIGIL_RATE_LIMIT": "off",
            # wrk is one client address: measure hashing throughput, not the per-client share.
            "SIGIL_HASH_PER_CLIENT": "1024",
            "SIGIL_JWT_TTL": "1h",  # the tokens collected at the start must outlive the whole run
            # sigil::caches: the hit and miss counts logged at shutdown
            "RUST_LOG": os.environ.get("SIGIL_BENCH_RUST_LOG", "warn,sigil::caches=info"),
        }
        env.update(extra or {})
        return self.server(name, [self.cfg.sigil_bin, "serve"], port, "/api/auth/ok", env=env)

    def sigil_seed(self, s: Server, alg: str) -> dict:
        """Signs the bench user up, gets a JWT, writes three tasks; returns what the scenarios need."""
        r = expect(call("POST", s.base + "/api/auth/sign-up/email",
                        {"name": "Bench User", "email": EMAIL, "password": PASSWORD}), "sigil sign-up")
        body = r.json()
        session = r.headers.get("set-auth-token") or body["token"]
        user_id = body["user"]["id"]
        jwt_token = expect(call("GET", s.base + "/api/auth/token", bearer=session), "sigil token").json()["token"]
        for t in TASKS:
            r = call("POST", s.base + f"/api/{user_id}/tasks", {k: v for k, v in t.items() if v is not None},
                     bearer=jwt_token)
            if r.status not in (200, 201):
                raise RuntimeError(f"sigil create task: {r!r}")
        tasks = expect(call("GET", s.base + f"/api/{user_id}/tasks", bearer=jwt_token), "sigil tasks").json()
        if len(tasks) != len(TASKS):
            raise RuntimeError(f"sigil tasks: expected {len(TASKS)}, got {tasks!r}")
        jwks = expect(call("GET", s.base + "/api/auth/jwks"), "sigil jwks").json() if alg == "EdDSA" else None
        import jwt as pyjwt

        claims = pyjwt.decode(jwt_token, options={"verify_signature": False})
        aud = claims["aud"][0] if isinstance(claims["aud"], list) else claims["aud"]
        return {"session": session, "user_id": user_id, "jwt": jwt_token, "tasks": tasks, "jwks": jwks,
                "iss": claims["iss"], "aud": aud}

    def run_sigil(self) -> None:
        cfg = self.cfg
        log(f"Sigil ({cfg.sigil_bin})")
        self.cold_start("sigil", lambda i: self.sigil_server(f"sigil-cold-{i}", "EdDSA",
                                                            self.fresh_db(f"sigil-cold-{i}.db")), cfg.cold_runs)
        # EdDSA (the default) first: it also serves the ceiling, get-session, token and, last because it
        # adds a session per request, sign-in.
        s = self.sigil_server("sigil-eddsa", "EdDSA", self.fresh_db("sigil-eddsa.db")).start()
        s.wait_ready()
        self.idle("sigil", s)
        seed = self.sigil_seed(s, "EdDSA")
        self.scenario("sigil.ok", s, load.Load("/api/auth/ok", {}, connections=cfg.connections),
                      check=lambda b: b == {"ok": True})
        self.sigil_protected(s, "EdDSA", seed)
        session = {"Authorization": f"Bearer {seed['session']}"}
        self.scenario("sigil.get_session", s,
                      load.Load("/api/auth/get-session", session, connections=cfg.connections),
                      check=lambda b: b and "session" in b)
        self.scenario("sigil.token", s, load.Load("/api/auth/token", session, connections=cfg.connections),
                      check=lambda b: "token" in b)
        self.scenario("sigil.sign_in", s,
                      load.Load("/api/auth/sign-in/email", {"Content-Type": "application/json"}, "POST",
                                SIGNIN_BODY, connections=cfg.signin_connections), check=lambda b: "token" in b)
        s.stop()
        # HS256: the same protected reads with shared-secret JWTs.
        s = self.sigil_server("sigil-hs256", "HS256", self.fresh_db("sigil-hs256.db")).start()
        s.wait_ready()
        self.sigil_protected(s, "HS256", self.sigil_seed(s, "HS256"))
        s.stop()
        # Both caches off: every request verifies the signature and reads SQLite, as FastAPI does.
        s = self.sigil_server("sigil-hs256-nocache", "HS256", self.fresh_db("sigil-hs256-nocache.db"),
                              extra={"SIGIL_TASKS_CACHE": "off", "SIGIL_TOKEN_CACHE": "off"}).start()
        s.wait_ready()
        seed = self.sigil_seed(s, "HS256")
        self.scenario("sigil.tasks_hs256_nocache", s,
                      load.Load(f"/api/{seed['user_id']}/tasks", {"Authorization": f"Bearer {seed['jwt']}"},
                                connections=cfg.connections),
                      check=lambda b: len(b) == len(TASKS))
        s.stop()

    def sigil_protected(self, s: Server, alg: str, seed: dict) -> None:
        """The protected GET three ways: one hot token, many distinct tokens, and the 403 path."""
        cfg = self.cfg
        a = alg.lower()
        path = f"/api/{seed['user_id']}/tasks"
        seed["secret"] = s.env["SIGIL_JWT_SECRET"]
        self.fastapi_inputs[alg] = seed
        self.scenario(f"sigil.tasks_{a}", s,
                      load.Load(path, {"Authorization": f"Bearer {seed['jwt']}"}, connections=cfg.connections),
                      check=lambda b: len(b) == len(TASKS))
        # Distinct tokens: more than Sigil's verified-token cache holds (10,000), each used once per round,
        # so nearly every request pays for a full signature check, as every request does in FastAPI.
        tokens = self.work / f"tokens-{a}.txt"
        n = load.harvest_tokens(s, seed["session"], tokens, cfg.harvest_seconds, self.load_settings)
        seed["tokens_file"] = str(tokens)
        self.token_counts[alg] = n
        log(f"  collected {n} distinct {alg} tokens from /api/auth/token")
        self.scenario(f"sigil.tasks_{a}_many", s,
                      load.Load(path, {}, connections=cfg.connections, tokens_file=str(tokens)),
                      check=lambda b: len(b) == len(TASKS))
        # Diagnostic: a valid token on another user's path is refused with 403 after verification and
        # before any database work, so this is the route's cost without the query.
        self.scenario(f"sigil.forbidden_{a}", s,
                      load.Load(f"/api/{rand_id()}/tasks", {"Authorization": f"Bearer {seed['jwt']}"},
                                connections=cfg.connections, expect_status=403))

    # ---- like for like: many users, each with their own tasks and token -----------------------------
    def pg_database(self, name: str) -> str | None:
        """Creates a fresh PostgreSQL database for a phase; its URL, or None without PostgreSQL."""
        url = self.cfg.pg_url
        if not url or url == "off":
            return None
        db = f"sigil_bench_{name}_{os.getpid()}"
        r = subprocess.run(["psql", url, "-qAt", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)",
                            "-c", f"CREATE DATABASE {db}"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            self.notes.append(f"PostgreSQL at {url.split('@')[-1]} not usable ({r.stderr.strip()[:120]}): "
                              "its rows are empty.")
            return None
        self.pg_databases.append(db)
        return url.rsplit("/", 1)[0] + "/" + db

    def drop_pg_databases(self) -> None:
        for db in self.pg_databases:
            subprocess.run(["psql", self.cfg.pg_url, "-qAtc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                           capture_output=True, timeout=60)
        self.pg_databases = []

    def seed_users(self, base: str, n: int, tasks: int) -> list[tuple[str, str]]:
        """Signs up `n` users over the API (8 at a time), `tasks` tasks each; returns (user_id, session)."""
        def one(i: int) -> tuple[str, str]:
            r = expect(call("POST", base + "/api/auth/sign-up/email",
                            {"name": f"Bench {i}", "email": f"bench-{i}@example.com", "password": PASSWORD}),
                       f"sign-up {i}")
            session = r.headers.get("set-auth-token") or r.json()["token"]
            user_id = r.json()["user"]["id"]
            jwt_token = expect(call("GET", base + "/api/auth/token", bearer=session), "token").json()["token"]
            for t in range(tasks):
                r = call("POST", base + f"/api/{user_id}/tasks",
                         {"title": f"Task {t} of user {i}", "description": "Sigil against FastAPI, like for like"},
                         bearer=jwt_token)
                if r.status not in (200, 201):
                    raise RuntimeError(f"task {t} of user {i}: {r!r}")
            return user_id, session

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, range(n)))

    def mint_tokens(self, base: str, users: list[tuple[str, str]], out: Path) -> Path:
        """Each user's own JWT from /api/auth/token; writes "user_id token" lines for report.lua."""
        def one(u):
            return u[0], expect(call("GET", base + "/api/auth/token", bearer=u[1]), "token").json()["token"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            lines = [f"{uid} {tok}" for uid, tok in pool.map(one, users)]
        out.write_text("\n".join(lines) + "\n")
        return out

    def cache_counts(self, server: Server) -> dict | None:
        """The hit/miss counts the server logged at shutdown (target sigil::caches)."""
        try:
            text = server.log_path.read_text(errors="replace")
        except OSError:
            return None
        found = None
        for line in text.splitlines():
            if "sigil::caches" not in line:
                continue
            found = {}
            for name in ("token_cache", "tasks_cache"):
                m = re.search(name + r'="?(\d+) hits, (\d+) misses', line)
                found[name] = {"hits": int(m.group(1)), "misses": int(m.group(2))} if m else None
        return found

    def run_like_for_like(self) -> None:
        cfg = self.cfg
        sys.path.insert(0, str(BENCH / "fastapi"))
        venv_bin = Path(sys.executable).parent
        backends = ["sqlite", "postgres"]
        for backend in backends:
            if backend == "sqlite":
                db_file = self.fresh_db("lfl.db")
                db_url = f"sqlite://{db_file}?mode=rwc"
            else:
                db_url = self.pg_database("lfl")
                if db_url is None:
                    continue
            log(f"like for like on {backend}: {cfg.users} users, {cfg.user_tasks} tasks each, a token each")
            # Seeding only: cheap password hashing (argon2id m=1 MiB, t=1) so thousands of sign-ups take
            # seconds. The measured servers below run with the defaults.
            seeder = self.sigil_server(f"sigil-seed-{backend}", "EdDSA", db_url, extra={
                "SIGIL_ARGON2_MEMORY_KIB": "1024", "SIGIL_ARGON2_ITERATIONS": "1",
                "SIGIL_ACCOUNT_THROTTLE": "off"}).start()
            seeder.wait_ready()
            # Every Sigil of this phase issues and expects the seeder's URL as `iss`/`aud`, so the tokens
            # minted once stay valid on each server started after it (each on a port of its own).
            same_url = {"SIGIL_BASE_URL": seeder.base}
            t0 = time.time()
            users = self.seed_users(seeder.base, cfg.users, cfg.user_tasks)
            seeder.stop()
            log(f"  seeded {len(users)} users in {time.time() - t0:.0f} s")
            self.lfl_users = len(users)
            for alg in ("HS256", "EdDSA"):
                a = alg.lower()
                nocache = {"SIGIL_TOKEN_CACHE": "off", "SIGIL_TASKS_CACHE": "off", **same_url}
                s = self.sigil_server(f"sigil-{backend}-{a}-nocache", alg, db_url, extra=nocache).start()
                s.wait_ready()
                users_file = self.mint_tokens(s.base, users, self.work / f"users-{backend}-{a}.txt")
                first_id, first_tok = users_file.read_text().split("\n", 1)[0].split()
                import jwt as pyjwt

                claims = pyjwt.decode(first_tok, options={"verify_signature": False})
                aud = claims["aud"][0] if isinstance(claims["aud"], list) else claims["aud"]
                jwks = expect(call("GET", s.base + "/api/auth/jwks"), "jwks").json()
                jwks_file = self.work / f"jwks-{backend}.json"
                jwks_file.write_text(json.dumps(jwks))
                lo = load.Load("/", {}, connections=cfg.connections, users_file=str(users_file))
                check = lambda b: len(b) == cfg.user_tasks
                self.scenario(f"lfl.{backend}.sigil_{a}_nocache", s, lo, check=check)
                s.stop()
                self.runs[f"lfl.{backend}.sigil_{a}_nocache"]["caches"] = self.cache_counts(s)
                if not cfg.quick:
                    # What the caches add: the same requests with both caches on (on PostgreSQL the
                    # task-list cache is off by default, for several writers; on here: one process).
                    s = self.sigil_server(f"sigil-{backend}-{a}-cached", alg, db_url,
                                          extra={"SIGIL_TOKEN_CACHE": "on", "SIGIL_TASKS_CACHE": "on",
                                                 **same_url}).start()
                    s.wait_ready()
                    self.scenario(f"lfl.{backend}.sigil_{a}_cached", s, lo, check=check)
                    s.stop()
                    counts = self.cache_counts(s)
                    self.runs[f"lfl.{backend}.sigil_{a}_cached"]["caches"] = counts
                    log(f"    cache counts (warm-up + run): {counts}")
                for workers in ((1,) if cfg.quick else (1, 2)):
                    port = free_port()
                    env = {"JWT_ALG": alg, "JWT_ISSUER": claims["iss"], "JWT_AUDIENCE": aud,
                           "JWKS_FILE": str(jwks_file), "JWT_SECRET": s.env["SIGIL_JWT_SECRET"]}
                    if backend == "sqlite":
                        env.update(TASKS_DB=str(db_file), TASKS_SCHEMA="sigil")
                    else:
                        env.update(DATABASE_URL=db_url)
                    cmd = [str(venv_bin / "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", str(port),
                           "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
                    f = self.server(f"fastapi-{backend}-{a}-w{workers}", cmd, port, "/healthz", env=env,
                                    cwd=str(BENCH / "fastapi")).start()
                    f.wait_ready()
                    self.scenario(f"lfl.{backend}.fastapi_{a}_w{workers}", f, lo, check=check)
                    f.stop()
            if backend == "postgres" and cfg.wants("better-auth"):
                # get-session and token on PostgreSQL, beside Better Auth on PostgreSQL.
                s = self.sigil_server("sigil-postgres-default", "EdDSA", db_url, extra=same_url).start()
                s.wait_ready()
                session = {"Authorization": f"Bearer {users[0][1]}"}
                self.scenario("lfl.postgres.sigil_get_session", s,
                              load.Load("/api/auth/get-session", session, connections=cfg.connections),
                              check=lambda b: b and "session" in b)
                if not cfg.quick:
                    self.scenario("lfl.postgres.sigil_token", s,
                                  load.Load("/api/auth/token", session, connections=cfg.connections),
                                  check=lambda b: "token" in b)
                s.stop()

    def stand_in_tokens(self) -> None:
        """Without a Sigil binary: JWTs of the same shape made here, so the FastAPI side can still run."""
        import jwt as pyjwt
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from jwt.algorithms import OKPAlgorithm

        self.notes.append("No Sigil binary: the FastAPI peer verified stand-in JWTs made by the harness "
                          "(same claims, EdDSA key generated for the run).")
        iss = aud = "http://127.0.0.1:3000"
        now = int(time.time())
        key = Ed25519PrivateKey.generate()
        kid = rand_id()
        jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid=kid, alg="EdDSA")
        secret = "bench-jwt-secret-" + "j" * 40
        for n, alg in enumerate(("EdDSA", "HS256")):
            user_id = rand_id()
            claims = {"sub": user_id, "email": EMAIL, "name": "Bench User", "iat": now, "exp": now + 3600,
                      "iss": iss, "aud": aud, "sid": rand_id(), "jti": rand_id()}
            if alg == "EdDSA":
                token = pyjwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})
            else:
                token = pyjwt.encode(claims, secret, algorithm="HS256")
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
            tasks = [{"id": 10 * n + i + 1, "user_id": user_id, "title": t["title"], "description": t["description"],
                      "completed": False, "created_at": stamp, "updated_at": stamp} for i, t in enumerate(TASKS)]
            self.fastapi_inputs[alg] = {"user_id": user_id, "jwt": token, "tasks": tasks, "iss": iss, "aud": aud,
                                        "jwks": {"keys": [jwk]}, "secret": secret}

    # ---- FastAPI ---------------------------------------------------------------------------------
    def run_fastapi(self) -> None:
        cfg = self.cfg
        log("FastAPI + PyJWT + uvicorn")
        sys.path.insert(0, str(BENCH / "fastapi"))
        from seed import seed

        db = self.work / "fastapi-tasks.db"
        seed(str(db), [t for a in ("EdDSA", "HS256") for t in self.fastapi_inputs[a]["tasks"]])
        jwks_file = self.work / "jwks.json"
        jwks_file.write_text(json.dumps(self.fastapi_inputs["EdDSA"]["jwks"]))
        venv_bin = Path(sys.executable).parent

        def make(alg: str, workers: int, name: str) -> Server:
            inp = self.fastapi_inputs[alg]
            port = free_port()
            env = {"JWT_ALG": alg, "JWT_ISSUER": inp["iss"], "JWT_AUDIENCE": inp["aud"], "TASKS_DB": str(db),
                   "JWKS_FILE": str(jwks_file), "JWT_SECRET": self.fastapi_inputs["HS256"]["secret"]}
            cmd = [str(venv_bin / "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
            return self.server(name, cmd, port, "/healthz", env=env, cwd=str(BENCH / "fastapi"))

        self.cold_start("fastapi_w1", lambda i: make("EdDSA", 1, f"fastapi-cold-{i}"), cfg.cold_runs)
        for workers in (1, 2):
            for alg in ("HS256", "EdDSA"):
                inp = self.fastapi_inputs[alg]
                a = alg.lower()
                s = make(alg, workers, f"fastapi-{a}-w{workers}").start()
                s.wait_ready()
                if alg == "HS256":
                    self.idle(f"fastapi_w{workers}", s)
                path = f"/api/{inp['user_id']}/tasks"
                self.scenario(f"fastapi.tasks_{a}_w{workers}", s,
                              load.Load(path, {"Authorization": f"Bearer {inp['jwt']}"}, connections=cfg.connections),
                              check=lambda b: len(b) == len(TASKS))
                if inp.get("tokens_file"):
                    self.scenario(f"fastapi.tasks_{a}_many_w{workers}", s,
                                  load.Load(path, {}, connections=cfg.connections, tokens_file=inp["tokens_file"]),
                                  check=lambda b: len(b) == len(TASKS))
                s.stop()

    # ---- Better Auth -----------------------------------------------------------------------------
    def run_better_auth(self) -> None:
        cfg = self.cfg
        log("Better Auth 1.7.25 (Node; PostgreSQL, SQLite and memory adapters; jwt + bearer)")

        def make(name: str, database_url: str = "", workers: int = 1) -> Server:
            port = free_port()
            env = {"PORT": str(port), "NODE_ENV": "production",
                   "BETTER_AUTH_SECRET": "bench-cookie-secret-" + "s" * 40,
                   "DATABASE_URL": database_url, "WORKERS": str(workers)}
            return self.server(name, ["node", "server.mjs"], port, "/api/auth/ok", env=env,
                               cwd=str(BENCH / "better-auth"))

        # As deployed: the Kysely adapter on PostgreSQL (pg Pool), then on an SQLite file (better-sqlite3),
        # each as one process and then two processes behind the same port (node:cluster), each on a
        # fresh database. Quick mode: PostgreSQL, one process, get-session only.
        for backend in ("pg", "sqlite"):
            for workers in (1, 2):
                if backend == "pg":
                    db_url = self.pg_database(f"ba{workers}")
                    if db_url is None:
                        break
                else:
                    db_url = f"sqlite:{self.fresh_db(f'better-auth-w{workers}.db')}"
                s = make(f"better-auth-{backend}-w{workers}", db_url, workers).start()
                s.wait_ready(timeout=60)
                r = expect(call("POST", s.base + "/api/auth/sign-up/email",
                                {"name": "Bench User", "email": EMAIL, "password": PASSWORD}), "better-auth sign-up")
                auth = {"Authorization": f"Bearer {r.headers.get('set-auth-token') or r.json()['token']}"}
                self.scenario(f"better_auth.{backend}_w{workers}.get_session", s,
                              load.Load("/api/auth/get-session", auth, connections=cfg.connections),
                              check=lambda b: b and "session" in b)
                if not cfg.quick:
                    self.scenario(f"better_auth.{backend}_w{workers}.token", s,
                                  load.Load("/api/auth/token", auth, connections=cfg.connections),
                                  check=lambda b: "token" in b)
                s.stop()
                if cfg.quick:
                    break
            if cfg.quick:
                break
        if cfg.quick:
            return

        self.cold_start("better_auth", lambda i: make(f"better-auth-cold-{i}"), cfg.cold_runs)
        s = make("better-auth").start()
        s.wait_ready()
        self.idle("better_auth", s)
        r = expect(call("POST", s.base + "/api/auth/sign-up/email",
                        {"name": "Bench User", "email": EMAIL, "password": PASSWORD}), "better-auth sign-up")
        session = r.headers.get("set-auth-token") or r.json()["token"]
        auth = {"Authorization": f"Bearer {session}"}
        self.scenario("better_auth.ok", s, load.Load("/api/auth/ok", {}, connections=cfg.connections),
                      check=lambda b: b == {"ok": True})
        self.scenario("better_auth.get_session", s,
                      load.Load("/api/auth/get-session", auth, connections=cfg.connections),
                      check=lambda b: b and "session" in b)
        self.scenario("better_auth.token", s, load.Load("/api/auth/token", auth, connections=cfg.connections),
                      check=lambda b: "token" in b)
        self.scenario("better_auth.sign_in", s,
                      load.Load("/api/auth/sign-in/email", {"Content-Type": "application/json"}, "POST",
                                SIGNIN_BODY, connections=cfg.signin_connections), check=lambda b: "token" in b)
        s.stop()

    # ---- the whole run ---------------------------------------------------------------------------
    def fresh_db(self, name: str) -> Path:
        p = self.work / name
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
        return p

    def run(self) -> dict:
        cfg = self.cfg
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.logs.mkdir(parents=True)
        if cfg.wait_quiet > 0:
            log(f"waiting up to {cfg.wait_quiet:.0f} s for the machine to be quiet (< 5% busy for 10 s)")
            deadline, quiet = time.time() + cfg.wait_quiet, 0
            while time.time() < deadline and quiet < 5:
                quiet = quiet + 1 if cpu_busy(2.0) < 5 else 0
            log("quiet" if quiet >= 5 else "still busy; going on anyway")
        started = time.time()
        busy = cpu_busy()
        self.background_cpu = {"before": round(busy, 1)}
        if busy > 5:
            log(f"warning: the machine is {busy:.0f}% busy before the benchmark starts; numbers will be skewed")
            self.notes.append(f"The machine was {busy:.0f}% busy (all CPUs) just before the run: other work "
                              "competed with the servers and the load generator.")
        log(f"settings: {cfg.duration:g} s per scenario after {cfg.warmup:g} s warm-up, {cfg.connections} connections "
            f"({cfg.signin_connections} for sign-in), wrk {cfg.wrk_threads} thread(s), pinning: {cfg.pin}, "
            f"nice {cfg.nice}")
        if cfg.wants("like-for-like") and self.sigil_built:
            try:
                self.run_like_for_like()
            finally:
                self.drop_pg_databases()
        if cfg.quick:
            if cfg.wants("better-auth"):
                try:
                    self.run_better_auth()
                finally:
                    self.drop_pg_databases()
            return self.results(time.time() - started)
        if cfg.wants("baseline"):
            self.run_baselines()
        if cfg.wants("sigil") and self.sigil_built:
            self.run_sigil()
        elif cfg.wants("sigil"):
            self.notes.append("Sigil was not built (no Cargo workspace with a `sigil` binary was found); "
                              "its columns are empty.")
            log("Sigil: no binary, skipped")
        if cfg.wants("fastapi"):
            if "EdDSA" not in self.fastapi_inputs:
                self.stand_in_tokens()
            self.run_fastapi()
        if cfg.wants("better-auth"):
            try:
                self.run_better_auth()
            finally:
                self.drop_pg_databases()
        return self.results(time.time() - started)

    def results(self, elapsed: float) -> dict:
        cfg = self.cfg
        log(f"all scenarios done in {elapsed:.0f} s")
        if self.busy_runs:
            self.notes.append("Other processes on the machine took more than 10% of its CPU during: "
                              + ", ".join(self.busy_runs) + ". A single-process server (FastAPI with one "
                              "worker, Better Auth) leaves a core to them without losing anything; for the "
                              "others those numbers may be low.")
        busy = cpu_busy()
        self.background_cpu["after"] = round(busy, 1)
        if busy > 5:
            self.notes.append(f"The machine was {busy:.0f}% busy (all CPUs) right after the run, with every "
                              "server stopped: other work competed with the benchmark.")
        return {
            "meta": report.machine(cfg, self.sigil_built, elapsed),
            "settings": {k: (sorted(v) if isinstance(v, set) else v) for k, v in vars(cfg).items()},
            "runs": self.runs,
            "startup": self.startup,
            "baselines": self.baselines,
            "notes": self.notes,
            "background_cpu_percent": self.background_cpu,
            "distinct_tokens": self.token_counts,
            "users": self.lfl_users,
            "user_tasks": cfg.user_tasks,
        }


def main() -> int:
    cfg = Config()

    def on_term(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")

    def on_alarm(_signum, _frame):
        raise TimeoutError(f"the benchmark ran past its time limit (BENCH_TIMEOUT={cfg.timeout} s)")

    # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(cfg.timeout + int(cfg.wait_quiet))
    # The harness polls for readiness (cold start) and drives set-up requests: rank its session's
    # autogroup like the servers', and put it back afterwards.
    own_group = Path("/proc/self/autogroup")
    old_nice = None
    if cfg.nice:
        try:
            old_nice = int(own_group.read_text().split("nice")[1])
            own_group.write_text(str(cfg.nice))
        except (OSError, ValueError, IndexError):
            old_nice = None
    try:
        results = Bench(cfg).run()
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every server started", file=sys.stderr)
        return 130
    except Exception as e:
        print(f"\nbenchmark failed: {e}\nserver logs: {OUT / 'logs'}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        stop_all()
        if old_nice is not None:
            try:
                own_group.write_text(str(old_nice))
            except OSError:
                pass
    if cfg.quick:
        return report.quick_compare(results, OUT, BENCH / "last-run.json")
    report.write_all(results, OUT, ROOT, BENCH, update_docs=cfg.update_docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
