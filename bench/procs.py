"""Server processes for a load: free loopback port, CPU pinning, readiness, peak memory."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

SERVER_CPU = 0
LOAD_CPU = 1


def can_pin() -> bool:
    """Server and load generator get a core each when there are two and taskset exists."""
    return shutil.which("taskset") is not None and len(os.sched_getaffinity(0)) >= 2


def pinned(argv: Sequence[str], cpu: int | None) -> list[str]:
    if cpu is None or not can_pin():
        return list(argv)
    return ["taskset", "-c", str(cpu), *argv]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        found.append(child)
        found.extend(_descendants(child))
    return found


_TICKS = os.sysconf("SC_CLK_TCK")


def _task_nanoseconds(pid: int) -> int | None:
    """The CPU time of the process's threads alive now, in ns (``/proc/PID/task/*/schedstat``,
    the scheduler's own count), or None where the kernel keeps no such count."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for task in tasks:
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total or None


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time of the processes (all their threads); gone ones count 0.

    In nanoseconds from the scheduler where it counts them: ``/proc/PID/stat``'s user and
    system times are in clock ticks (10 ms), too coarse for a post of 20 ms, whose mean
    over 45 posts then swings by ±5 %. A thread that ended between two readings drops
    out of the count; the servers measured keep theirs."""
    total = 0.0
    for pid in pids:
        nanoseconds = _task_nanoseconds(pid)
        if nanoseconds is not None:
            total += nanoseconds / 1e9
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (stat's 14, 15)
    return total


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    """A server started in its own process group on 127.0.0.1, stopped by :meth:`stop`;
    pinned to ``cpu`` (the server's core unless told otherwise)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], port: int,
                 log_path: Path, *, cwd: Path | None = None, cpu: int | None = SERVER_CPU
                 ) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            pinned(argv, cpu), env=env, cwd=cwd, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + path, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s: {self.log_tail()}")

    def worker_pid(self) -> int:
        """The process that serves requests: the youngest descendant, else the process itself."""
        children = _descendants(self.process.pid)
        return children[-1] if children else self.process.pid

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) of the serving worker, in MB."""
        return round(_status_kb(self.worker_pid(), "VmHWM") / 1024, 1)

    def log_tail(self, chars: int = 2000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self._log.close()
