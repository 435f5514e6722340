"""The machine and the software versions a run measured on."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import consenthub
from bench import databases
from bench.procs import LOAD_CPU, SERVER_CPU, can_pin

PACKAGES = ("consenthub", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic",
            "sqlalchemy", "psycopg", "orjson", "joserfc", "cryptography")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _git(*argv: str) -> str:
    """git in the tree that holds the consenthub package being measured."""
    tree = Path(consenthub.__file__).parent
    done = subprocess.run(["git", "-C", str(tree), *argv], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip()


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def describe(wrk_version: str) -> dict[str, Any]:
    """Cores, CPU model, memory, kernel, load, pinning, commit, and versions."""
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", "."))
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "pinning": (f"server on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU} (taskset)"
                    if can_pin() else "none (taskset missing or a single core)"),
        "commit": _git("rev-parse", "--short", "HEAD") + (" + local changes" if dirty else ""),
        "source": _git("rev-parse", "--show-toplevel"),
        "versions": {
            "python": platform.python_version(),
            **{name: _package(name) for name in PACKAGES},
            "sqlite": databases.sqlite_version(),
            "postgresql": databases.postgres_version(),
            "wrk": wrk_version,
        },
    }
