"""What a run found: load series (median over rounds) and the report's figures."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.wrk import LoadResult


@dataclass
class Series:
    """One subject under one load, measured in ``rounds`` interleaved with its baselines."""

    key: str
    label: str
    rounds: list[LoadResult] = field(default_factory=list)
    # CPU time per request of the server (and its PostgreSQL backends), one value a round.
    cpu_ms: list[float] = field(default_factory=list)
    connections: int = 0  # wrk connections of every round

    def _median(self, name: str) -> float:
        return round(float(statistics.median(getattr(r, name) for r in self.rounds)), 3)

    @property
    def rps(self) -> float:
        return round(self._median("rps"), 1)

    @property
    def p50_ms(self) -> float:
        return self._median("p50_ms")

    @property
    def p99_ms(self) -> float:
        return self._median("p99_ms")

    @property
    def cost_ms(self) -> float:
        """Server time per request at saturation: one worker, so 1000 / req/s."""
        return round(1000 / self.rps, 4)

    @property
    def cpu_ms_per_request(self) -> float:
        """CPU time per request: unlike req/s, other work on the machine barely moves it."""
        return round(statistics.median(self.cpu_ms), 4) if self.cpu_ms else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "connections": self.connections, "rps": self.rps,
                "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "cost_ms": self.cost_ms,
                "cpu_ms_per_request": self.cpu_ms_per_request,
                "rounds": [asdict(r) | {"cpu_ms_per_request": round(cpu, 4)}
                           for r, cpu in zip(self.rounds, self.cpu_ms, strict=True)]}


@dataclass(frozen=True)
class Figure:
    """One line of the summary: a figure, its baseline from the same run, the ratio, the goal."""

    benchmark: str
    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None
    note: str = ""


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 3) if denominator else float("nan")


@dataclass
class Section:
    """A benchmark's details for the report: a title, markdown lines, and JSON data."""

    title: str
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Findings:
    figures: list[Figure] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    memory_mb: dict[str, float] = field(default_factory=dict)
