"""Load from ``wrk`` (Debian's package, installed when missing) with a Lua script per load.

The script picks a request at random from a list (so a load touches many rows,
not one hot one) and, when wrk is done, prints one JSON line with the counts and
latency percentiles that this module parses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import pinned

_MARK = "BENCH_RESULT "

_LUA = """
local requests = {
%(requests)s
}
local headers = {
%(headers)s
}
local prepared = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (id or 0))
  for i, r in ipairs(requests) do
    prepared[i] = wrk.format(r[1], r[2], headers, r[3])
  end
end

function request()
  return prepared[math.random(#prepared)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str | None = None


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: throughput, latency percentiles, and every kind of error wrk counts."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int
    socket_errors: int
    load_1m: float  # the machine's 1-minute load average right after the run


class WrkError(RuntimeError):
    """wrk could not be installed or run, or its output was not understood."""


def ensure_wrk() -> str:
    """Path of wrk; installs Debian's package when missing (apt-get update only if needed)."""
    found = shutil.which("wrk")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-qq"],
                       env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise WrkError(f"cannot install wrk: {done.stderr.strip()[-500:]}")
    found = shutil.which("wrk")
    if not found:
        raise WrkError("wrk is not on PATH after installing it")
    return found


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip().splitlines()[0]


def _lua_string(text: str) -> str:
    """A Lua string literal: for ASCII text, JSON's quoting is Lua's."""
    if not text.isascii():
        raise WrkError(f"only ASCII goes into the wrk script: {text!r}")
    return json.dumps(text)


def write_script(path: Path, requests: Sequence[Request], headers: dict[str, str]) -> Path:
    """A Lua script that sends ``requests`` in random order with ``headers``."""
    rows = ",\n".join(
        f"  {{{_lua_string(r.method)}, {_lua_string(r.path)}, "
        f"{_lua_string(r.body) if r.body is not None else 'nil'}}}"
        for r in requests
    )
    header_rows = ",\n".join(f"  [{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    path.write_text(_LUA % {"requests": rows, "headers": header_rows, "mark": _MARK})
    return path


def run(wrk: str, base_url: str, script: Path, *, seconds: float, connections: int,
        cpu: int | None) -> LoadResult:
    """One bounded wrk run (one thread) against ``base_url``, which must be on loopback."""
    if not base_url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise WrkError(f"refusing to load anything but loopback: {base_url}")
    duration = max(1, round(seconds))
    argv = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
            "-s", str(script), base_url]
    done = subprocess.run(pinned(argv, cpu), capture_output=True, text=True,
                          timeout=duration + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(_MARK)), None)
    if done.returncode != 0 or line is None:
        raise WrkError(f"wrk failed ({done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}")
    raw = json.loads(line[len(_MARK):])
    seconds_run = raw["duration_us"] / 1e6
    return LoadResult(
        requests=raw["requests"],
        seconds=round(seconds_run, 3),
        rps=round(raw["requests"] / seconds_run, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=round(raw["mean_us"] / 1000, 3),
        non_2xx=raw["status"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        load_1m=round(os.getloadavg()[0], 2),
    )
