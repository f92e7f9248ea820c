"""Servers the harness starts: spawning, readiness, memory readings, and stopping every one of them.

Each server runs in a session (process group) of its own, so that stopping it also stops its children
(uvicorn's workers). Every started server is recorded in a registry that `stop_all()` empties; the harness
calls it on normal exit, on failure, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_RUNNING: list["Server"] = []


def set_priority(pid: int, nice: int) -> None:
    """Puts a session leader's autogroup at `nice`. With autogrouping on (Linux's default for desktops
    and many VMs), a process's own nice value only ranks it inside its session; between sessions the
    scheduler weighs autogroups, so this is what actually ranks a server ahead of other work."""
    if not nice:
        return
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))
    except OSError:
        pass


def run_prioritized(cmd: list[str], nice: int, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """subprocess.run in a session of its own at priority `nice`; killed if the harness is interrupted."""
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    set_priority(proc.pid, nice)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """One HTTP/1.1 GET over a fresh connection; the status code, or None if nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
            head = b""
            while b"\r\n" not in head:
                chunk = s.recv(256)
                if not chunk:
                    return None
                head += chunk
            parts = head.split(b" ", 2)
            return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        for t in task_dir.iterdir():
            try:
                kids += [int(x) for x in (t / "children").read_text().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def process_tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += _children(p)
    return seen


def _status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    log_path: Path | None = None
    cpus: str | None = None  # taskset CPU list, e.g. "1"
    nice: int = 0  # scheduling priority (negative: ahead of other work on a shared machine; needs root)
    proc: subprocess.Popen | None = None
    spawned_at: float = 0.0
    ready_ms: float | None = None

    def start(self) -> "Server":
        full_env = dict(os.environ)
        full_env.update(self.env)
        cmd = (["taskset", "-c", self.cpus] if self.cpus else []) + self.cmd
        if self.nice:
            cmd = ["nice", "-n", str(self.nice)] + cmd
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.spawned_at = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, env=full_env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        set_priority(self.proc.pid, self.nice)
        _RUNNING.append(self)
        return self

    def wait_ready(self, timeout: float = 30.0, poll: float = 0.001) -> float:
        """Polls `ready_path` until it answers 200; returns (and keeps) ms from spawn to that answer."""
        assert self.proc is not None
        deadline = self.spawned_at + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready"
                                   f" (log: {self.log_path})")
            if http_status(self.port, self.ready_path) == 200:
                self.ready_ms = (time.perf_counter() - self.spawned_at) * 1e3
                return self.ready_ms
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s (log: {self.log_path})")
            time.sleep(poll)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def rss_kib(self) -> int:
        """Resident memory of the server and all its children, summed."""
        return sum(_status_kib(p, "VmRSS") for p in self.pids())

    def reset_peak(self) -> None:
        """Resets VmHWM (peak RSS) of every process of the server (`echo 5 > /proc/PID/clear_refs`)."""
        for p in self.pids():
            try:
                Path(f"/proc/{p}/clear_refs").write_text("5")
            except OSError:
                pass

    def peak_kib(self) -> int:
        """Peak RSS since the last reset_peak(), summed over the server's processes."""
        return sum(_status_kib(p, "VmHWM") for p in self.pids())

    def stop(self, grace: float = 5.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        # Workers that outlived their parent are still in its process group.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self in _RUNNING:
            _RUNNING.remove(self)
        self.proc = None


def stop_all() -> None:
    for server in list(_RUNNING):
        try:
            server.stop()
        except Exception as e:  # keep stopping the others
            print(f"warning: could not stop {server.name}: {e}")
