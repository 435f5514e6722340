"""Benchmark 2: ``GET /api/v1/metering-points/{id}/values`` for a day of hourly values
(token check + grant check + read + access log), at a small and a large scale, on
SQLite and on PostgreSQL; the small scale is the large one's baseline."""

from __future__ import annotations

import datetime as dt

from bench import databases, dataset, hub, wrk
from bench.loads import Context, HarnessError, Subject, log, measure, serving
from bench.procs import Server
from bench.results import Figure, Findings, Section, Series, ratio

COST_RATIO_GOAL = 1.2
P99_GOAL_MS = 10.0
RPS_GOAL = 1500.0


def _requests(data: dataset.Dataset) -> list[wrk.Request]:
    return [
        wrk.Request("GET", f"/api/v1/metering-points/{gsrn}/values?from={day.isoformat()}"
                           f"&to={(day + dt.timedelta(days=1)).isoformat()}")
        for gsrn in data.read_gsrns
        for day in data.read_days
    ]


def _check(server: Server, token: str, data: dataset.Dataset) -> None:
    """One read by hand: a day must come back as 24 hourly values."""
    request = _requests(data)[-1]
    reply = hub.get_json(server.base_url + request.path, {"Authorization": f"Bearer {token}"})
    values = reply.get("values")
    if not isinstance(values, list) or len(values) != 24:
        raise HarnessError(f"{server.name}: a day's read did not give 24 values: {reply}")


def _scale(count: int) -> str:
    return f"{count / 1e6:g} M" if count >= 1_000_000 else f"{count / 1e3:g} k"


def run(context: Context, findings: Findings) -> dict[str, dict[str, float]]:
    """Both backends; returns the large build's bulk-load rates per backend: metering points
    (with their end user and supply period) per second, and meter values per second."""
    plan = context.plan
    bulk_rates: dict[str, dict[str, float]] = {}
    for kind in ("sqlite", "postgresql"):
        servers: list[Server] = []
        backends: list[databases.Backend] = []
        subjects: list[Subject] = []
        built: list[dataset.Dataset] = []
        try:
            for size, count in (("small", plan.data_small), ("large", plan.data_large)):
                backend = databases.fresh(kind, context.work, f"data_{size}")
                backends.append(backend)
                key = hub.new_secret_key()
                log(f"data: building {count:,} metering points on {kind}")
                data = dataset.build(backend.url, key, metering_points=count,
                                     grants=plan.grants_for(count), parties=plan.parties,
                                     read_set=plan.read_set, read_days=plan.read_days)
                log(f"data: built in {data.seconds:.0f} s")
                built.append(data)
                server = hub.serve(f"consenthub-data-{kind}-{size}", backend.url, key,
                                   context.work)
                servers.append(server)
                token = hub.access_token(server, data.reader)
                _check(server, token, data)
                label = (f"{kind}, {_scale(count)} metering points, "
                         f"{_scale(data.grants)} grants")
                subjects.append(Subject(
                    Series(f"data_{kind}_{size}", label), server.base_url,
                    wrk.write_script(context.work / f"data-{kind}-{size}.lua", _requests(data),
                                     {"Authorization": f"Bearer {token}"}),
                    serving(server, backend)))
            measure(context, subjects, plan.data_connections)
            findings.memory_mb.update({server.name: server.peak_rss_mb() for server in servers})
        finally:
            for server in servers:
                server.stop()
            for backend in backends:
                databases.drop(backend)
        large = built[-1]
        bulk_rates[kind] = {
            "metering_points_per_s": round(large.metering_points / large.master_seconds),
            "values_per_s": round(large.values / large.values_seconds),
        }
        _report(findings, kind, subjects[0].series, subjects[1].series, built)
    return bulk_rates


def _report(findings: Findings, kind: str, small: Series, large: Series,
            built: list[dataset.Dataset]) -> None:
    cost = ratio(large.cost_ms, small.cost_ms)
    p50 = ratio(large.p50_ms, small.p50_ms)
    cpu = ratio(large.cpu_ms_per_request, small.cpu_ms_per_request)
    scale = _scale(built[-1].metering_points)
    base = _scale(built[0].metering_points)

    def shown(s: Series) -> str:
        return (f"p50 {s.p50_ms:.2f} ms, p99 {s.p99_ms:.2f} ms, {s.rps:,.0f} req/s, "
                f"CPU {s.cpu_ms_per_request:.2f} ms/req")

    findings.figures += [
        Figure("Data API read, 1 day hourly", f"{kind}: cost per read, {scale} / {base}",
               shown(large), f"{base}: {shown(small)}",
               f"{cost:.2f} (p50: {p50:.2f}, CPU: {cpu:.2f})", f"≤ {COST_RATIO_GOAL}",
               cost <= COST_RATIO_GOAL,
               "cost = 1 / req/s of the one worker; CPU = CPU time per request of the worker "
               "(and on PostgreSQL of the database's server processes)"),
        Figure("Data API read, 1 day hourly", f"{kind}: req/s on one worker at {scale}, "
               f"{large.connections} concurrent clients",
               f"{large.rps:,.0f} req/s", f"{base}: {small.rps:,.0f} req/s",
               f"{ratio(large.rps, small.rps):.2f}", f"≥ {RPS_GOAL:,.0f} req/s",
               large.rps >= RPS_GOAL,
               "from the same rounds as the cost ratio and the p99 (median req/s of the "
               "rounds); SPEC §12 states the data API's p99 goal \"with 4 concurrent "
               f"clients\", so its loads keep {large.connections} wrk connections (the token "
               "loads use the 32 of SPEC §12's comparison table)"),
        Figure("Data API read, 1 day hourly", f"{kind}: p99 at {scale}, "
               f"{large.connections} concurrent clients",
               f"{large.p99_ms:.2f} ms", f"{base}: {small.p99_ms:.2f} ms",
               f"{ratio(large.p99_ms, small.p99_ms):.2f}", f"< {P99_GOAL_MS:g} ms",
               large.p99_ms < P99_GOAL_MS),
    ]
    section = Section(f"Data API read on {kind}")
    section.lines += [
        "| scale | rows loaded | load time s | distinct reads | req/s | p50 ms | p99 ms | "
        "CPU ms/req | rounds: req/s @ load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        *(f"| {s.label} | {d.rows:,} | {d.seconds:.0f} | {len(d.read_gsrns) * len(d.read_days):,} "
          f"| {s.rps:,.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.cpu_ms_per_request:.3f} | "
          f"{', '.join(f'{r.rps:,.0f} @ {r.load_1m:.1f}' for r in s.rounds)} |"
          for s, d in ((small, built[0]), (large, built[1]))),
    ]
    section.data = {"small": small.as_json(), "large": large.as_json(),
                    "datasets": [d.summary() for d in built]}
    findings.sections.append(section)
