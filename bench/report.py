"""BENCHMARKS.md and BENCHMARKS.json from a run's findings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bench.hub import LOG_LEVEL
from bench.plan import Plan
from bench.results import Figure, Findings

# The full run's report from before the performance work of issue 4 (6779907), kept so that
# every full report shows where each figure started.
BASELINE = Path(__file__).resolve().parent / "baselines" / "before-issue-4.json"
INTRO = """\
Absolute numbers drift on these shared 2-core machines; the ratios against
baselines measured in the same run are what to compare across runs. Each load
figure is the median of {rounds} round(s) of {seconds:g} s after a {warmup:g} s warm-up,
with a subject and its baselines interleaved round by round (order reversed
every other round), so that drift in the machine hits them alike. "@ load" is
the machine's 1-minute load average after a round: above about 2 (the cores),
other work shared the machine and the absolute numbers of that round are low."""


def _met(figure: Figure) -> str:
    if figure.met is None:
        return "—"
    return "yes" if figure.met else "**no**"


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or "—"


def _loads(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every load series in a report's JSON details, by label."""
    found: dict[str, dict[str, Any]] = {}

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if "label" in node and "rps" in node:
                found[str(node["label"])] = node
            for value in node.values():
                visit(value)

    visit(document.get("details", {}))
    return found


def _connections(document: dict[str, Any], load: dict[str, Any]) -> int | None:
    """A load's wrk connections; older reports name one count for all loads in their plan."""
    found = load.get("connections") or document.get("plan", {}).get("connections")
    return int(found) if found else None


def since(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """A table of every load measured in both reports: req/s, CPU per request, p99."""
    before, after = _loads(previous), _loads(current)
    shared = [label for label in after if label in before]
    if not shared:
        return []

    def change(old: float, new: float) -> str:
        return f"{old:,.2f} → {new:,.2f} ({new / old:.2f}×)" if old else f"→ {new:,.2f}"

    def named(label: str) -> str:
        old = _connections(previous, before[label])
        new = _connections(current, after[label])
        if old == new:
            return label
        return f"{label} (wrk connections {old} → {new}: not the same load)"

    return [
        "## Since the previous report",
        "",
        f"Previous: generated {previous.get('generated')}, consenthub at commit "
        f"{previous.get('machine', {}).get('commit')}. Same harness, other moment: compare "
        "the ratios inside each report first; CPU per request moves least with the machine.",
        "",
        "| load | req/s | CPU ms/req | p99 ms |",
        "|---|---|---|---|",
        *(f"| {named(label)} | {change(before[label]['rps'], after[label]['rps'])} | "
          f"{change(before[label]['cpu_ms_per_request'], after[label]['cpu_ms_per_request'])} | "
          f"{change(before[label]['p99_ms'], after[label]['p99_ms'])} |" for label in shared),
        "",
    ]


def before_the_work(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Each summary figure against the kept report from before the performance work of
    issue 4 (``bench/baselines``): the goals' ratios, which compare across machines."""
    def key(figure: dict[str, Any]) -> tuple[str, str]:
        # Figure names may end in a measured detail, e.g. an import's growth exponent.
        return figure["benchmark"], figure["figure"].split(" (")[0]

    old = {key(f): f for f in baseline.get("figures", [])}

    def shown(figure: dict[str, Any] | None, goal: str) -> str:
        if figure is None:
            return "—"
        # A goal with a unit is judged by the value (p99 ms, seconds, MB, req/s), as is a
        # figure without a goal; the others by the ratio to the same-run baseline.
        units = (" ms", " s", " MB", "/s")
        by_value = not (figure["ratio"] and goal) or any(unit in goal for unit in units)
        shown = figure["value"].split(" (")[0] if by_value else figure["ratio"]
        met = {True: ", met", False: ", missed"}.get(figure.get("met"), "")
        return f"{shown}{met}"

    return [
        "## Before the performance work (issue 4)",
        "",
        f"Kept report `{BASELINE.relative_to(BASELINE.parents[1])}`: generated "
        f"{baseline.get('generated')}, consenthub at commit "
        f"{baseline.get('machine', {}).get('commit')}, on a machine of the same kind that a CI "
        "run shared. Absolute numbers do not compare across machines; the ratios against "
        "same-run baselines do. docs/performance.md says what changed between the two.",
        "",
        "| benchmark | figure | before | now | goal |",
        "|---|---|---|---|---|",
        *(f"| {f['benchmark']} | {f['figure']} | {shown(old.get(key(f)), f['goal'])} "
          f"| {shown(f, f['goal'])} | {f['goal']} |" for f in current["figures"]),
        "",
    ]


def markdown(findings: Findings, machine: dict[str, Any], plan: Plan, command: str,
             generated: str, minutes: float) -> str:
    versions = machine["versions"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated {generated} by `{command}` ({plan.name} run, {minutes:.1f} min) "
        f"on consenthub at commit {machine['commit']} ({machine['source']}). "
        f"Reproduce: `{command}` from the repository root "
        f"(it runs `.venv/bin/python -m bench{' --quick' if plan.name == 'quick' else ''}`; "
        "`make bench-quick` is the CI smoke test at tiny scales, `make bench` the full run).",
        "",
        INTRO.format(rounds=plan.rounds, seconds=plan.seconds, warmup=plan.warmup_seconds),
        "",
        "## Summary",
        "",
        "| benchmark | figure | value | baseline (same run) | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
        *(f"| {_cell(f.benchmark)} | {_cell(f.figure)} | {_cell(f.value)} | {_cell(f.baseline)} "
          f"| {_cell(f.ratio)} | {_cell(f.goal)} | {_met(f)} |" for f in findings.figures),
        "",
        *(f"- {f.benchmark}, {f.figure}: {f.note}" for f in findings.figures if f.note),
        "",
        "## Machine and versions",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['cores']} cores; {machine['memory_gib']} GiB; "
        f"Linux {machine['kernel']}; load average at start "
        f"{', '.join(map(str, machine['load_average_at_start']))}",
        f"- Pinning: {machine['pinning']}; PostgreSQL's own processes are not pinned",
        "- Versions: " + ", ".join(f"{name} {value}" for name, value in versions.items()),
        "",
        "## Method",
        "",
        f"- Load: wrk, 1 thread, on 127.0.0.1 only: {plan.token_connections} connections for "
        "the token endpoint, hello-world and the peer (as SPEC §12's comparison table), "
        f"{plan.data_connections} for the data API (its p99 goal is stated with 4 concurrent "
        "clients). A Lua script picks each request at random from a list (for the data API: "
        "every read metering point × every read day), and the percentiles are wrk's.",
        "- consenthub: `consenthub serve --workers 1` (uvicorn, uvloop, httptools) with "
        f"CONSENTHUB_LOG_LEVEL={LOG_LEVEL}, a fresh SQLite file or a fresh PostgreSQL database "
        "(`consenthub_bench_<pid>_*`, dropped afterwards) per server, migrated by Alembic.",
        "- Hello-world baseline: `bench/hello.py`, the same `uvicorn.run` arguments, logging "
        "set-up and orjson response class as `consenthub serve`; it receives the same form "
        "body as the token endpoint.",
        f"- Data API scales: {plan.data_small:,} and {plan.data_large:,} metering points, "
        f"each with an end user and a supply period; grants {plan.grants_for(plan.data_small):,} "
        f"and {plan.data_large_grants:,} over {plan.parties} parties; the reader reads "
        f"{plan.read_set} of its metering points (spread over the id range) × {plan.read_days} "
        "days of hourly values; every metering point it holds a grant for also has one earlier "
        "day of values. Loaded set-based (SQLite executemany, PostgreSQL COPY, then "
        "VACUUM (ANALYZE)).",
        f"- Imports: metering points {plan.import_metering_points_sqlite[0]:,} and "
        f"{plan.import_metering_points_sqlite[1]:,} rows on SQLite, "
        f"{plan.import_metering_points_postgresql[0]:,} and "
        f"{plan.import_metering_points_postgresql[1]:,} on PostgreSQL; meter values: a year "
        f"of hourly values (8,760 rows each) for {plan.import_value_points[0]} and "
        f"{plan.import_value_points[1]} metering points. 87.6 M rows (10 k metering points) "
        "is out of reach here; its time is extrapolated with the measured growth exponent.",
        f"- Approval: an end user with {plan.approval_metering_points} metering points logs in "
        "through a local OpenID Connect provider (oidc-provider-mock); after "
        f"{plan.approval_warmup} untimed warm-up(s), {plan.approval_repetitions} fresh "
        f"BRS-NO-624 requests approve all {plan.approval_metering_points} and as many approve "
        "1 (the baseline), interleaved; each post is timed from the client over loopback. "
        "As many approve all of them for a party subscribed to a webhook, so the approval also "
        "writes its outbox rows: the outbox insert's cost against the same approval without.",
        f"- Webhooks: one `consenthub worker` (default settings) pinned to CPU 0 delivers a "
        f"backlog of {plan.webhook_events:,} events over {plan.webhook_parties} parties to a "
        "receiver process on loopback pinned to CPU 1 (uvicorn; it verifies one delivery in "
        f"{plan.webhook_verify_every} with standardwebhooks), in {plan.webhook_rounds} "
        "round(s) interleaved with a plain aiohttp.ClientSession process (the worker's HTTP "
        "client and settings) sending the same POSTs with the same concurrency to the same "
        "receiver; then single grants committed at "
        f"{plan.webhook_latency_rate:g}/s for {plan.webhook_latency_seconds:g} s, commit → "
        "arrival, to an idle worker.",
        f"- BRS-NO-622: one third party's messages to `POST /api/v1/third-party-access/updates`"
        f" of {plan.updates_large:,} and {plan.updates_small:,} `add` items on metering points "
        f"it never asked for ({plan.updates_points_per_end_user} per end user), a mixed one of "
        f"{plan.updates_large:,} (a third each add, remove, update of its contracts) and the "
        f"{plan.updates_large:,} adds again (all EH098); {plan.updates_warmup} untimed warm-up "
        f"round(s), then {plan.updates_rounds} rounds, the four interleaved; each POST timed "
        "from the client over loopback until the acknowledgement is read, every item checked.",
        "",
    ]
    for section in findings.sections:
        lines += [f"## {section.title}", "", *section.lines, ""]
    lines += [
        "## Memory",
        "",
        "Peak RSS (VmHWM) of each server's worker process after its loads:",
        "",
        *(f"- {name}: {mb:.0f} MB" for name, mb in findings.memory_mb.items()),
        "",
    ]
    return "\n".join(lines)


def write(directory: Path, findings: Findings, machine: dict[str, Any], plan: Plan,
          command: str, generated: str, minutes: float,
          previous: dict[str, Any] | None) -> tuple[Path, Path]:
    """BENCHMARKS.md and BENCHMARKS.json; the markdown compares with ``previous`` if given,
    and a full run with the kept report from before the performance work."""
    directory.mkdir(parents=True, exist_ok=True)
    document = {
        "generated": generated,
        "command": command,
        "minutes": round(minutes, 2),
        "plan": dataclasses.asdict(plan),
        "log_level": LOG_LEVEL,
        "machine": machine,
        "figures": [dataclasses.asdict(f) for f in findings.figures],
        "details": {section.title: section.data for section in findings.sections},
        "peak_rss_mb": findings.memory_mb,
    }
    comparison = since(previous, document) if previous else []
    if plan.name == "full" and BASELINE.exists():
        comparison += before_the_work(json.loads(BASELINE.read_text()), document)
    md = directory / "BENCHMARKS.md"
    md.write_text(markdown(findings, machine, plan, command, generated, minutes)
                  + "".join(f"\n{line}" for line in comparison) + "\n")
    js = directory / "BENCHMARKS.json"
    js.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return md, js
