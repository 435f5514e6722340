"""Interleaved load rounds: every subject and its baselines in turn, so drift hits all alike."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import databases, wrk
from bench.plan import Plan
from bench.procs import LOAD_CPU, Server, cpu_seconds
from bench.results import Series


@dataclass(frozen=True)
class Context:
    """Where a run works and what it runs with."""

    plan: Plan
    root: Path
    work: Path
    wrk: str


@dataclass(frozen=True)
class Subject:
    series: Series
    base_url: str
    script: Path
    # The processes whose CPU time serves the requests (worker, PostgreSQL backends).
    pids: Callable[[], list[int]]


def serving(server: Server, backend: databases.Backend | None = None) -> Callable[[], list[int]]:
    """The server's worker and, on PostgreSQL, the database processes serving it."""
    return lambda: [server.worker_pid(), *(databases.backend_pids(backend) if backend else [])]


class HarnessError(RuntimeError):
    """The harness itself broke: a server did not answer as it must, a tool failed."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def measure(context: Context, subjects: Sequence[Subject], connections: int) -> None:
    """Warm each subject up, then run ``plan.rounds`` rounds, alternating the order; every
    load keeps ``connections`` wrk connections open."""
    plan = context.plan
    for subject in subjects:
        subject.series.connections = connections
        log(f"warm-up {subject.series.label}")
        wrk.run(context.wrk, subject.base_url, subject.script, seconds=plan.warmup_seconds,
                connections=connections, cpu=LOAD_CPU)
    for number in range(plan.rounds):
        order = list(subjects) if number % 2 == 0 else list(reversed(subjects))
        for subject in order:
            pids = subject.pids()
            cpu_before = cpu_seconds(pids)
            result = wrk.run(context.wrk, subject.base_url, subject.script, seconds=plan.seconds,
                             connections=connections, cpu=LOAD_CPU)
            cpu_ms = 1000 * (cpu_seconds(pids) - cpu_before) / max(1, result.requests)
            if result.non_2xx:
                raise HarnessError(f"{subject.series.label}: {result.non_2xx} answers were not 2xx")
            subject.series.rounds.append(result)
            subject.series.cpu_ms.append(cpu_ms)
            log(f"round {number + 1}/{plan.rounds} {subject.series.label}: {result.rps:.0f} req/s, "
                f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                f"CPU {cpu_ms:.3f} ms/request, load {result.load_1m:.1f}")
