"""The benchmark run: ``python -m bench`` (full) or ``python -m bench --quick``."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import shutil
import time
from pathlib import Path

from bench import (
    approval_bench,
    consent_bench,
    data_bench,
    import_bench,
    machine,
    reminder_bench,
    report,
    token_bench,
    updates_bench,
    webhook_bench,
    wrk,
)
from bench.loads import Context, HarnessError, log
from bench.plan import FULL, QUICK
from bench.results import Figure, Findings

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("token", "consent", "data", "import", "approval", "webhooks", "updates", "reminders")
MEMORY_GOAL_MB = 150.0


def _not_yet(findings: Findings) -> None:
    """The BRS-NO-622 row when the consenthub measured (another commit, say) has no
    message endpoint yet."""
    findings.figures.append(
        Figure("BRS-NO-622 message, 10,000 items", "time to acknowledgement",
               "not yet implemented", goal="< 1 s (SPEC §12: < 2 s); 10 k ≤ 11× 1 k",
               note="message-initiated access updates (seed 001, package "
                    "`consenthub.access_updates`) do not exist in the consenthub measured: no "
                    "endpoint takes a BRS-NO-622 message, so nothing is measured"))


def _memory(findings: Findings) -> None:
    ours = {name: mb for name, mb in findings.memory_mb.items() if name.startswith("consenthub")}
    if not ours:
        return
    worst = max(ours, key=ours.__getitem__)
    hello = findings.memory_mb.get("hello")
    findings.figures.append(Figure(
        "Memory", "peak RSS of one server worker under token and data loads",
        f"{ours[worst]:.0f} MB ({worst})",
        f"hello-world worker {hello:.0f} MB" if hello else "",
        f"{ours[worst] / hello:.2f}" if hello else "", f"< {MEMORY_GOAL_MB:.0f} MB",
        ours[worst] < MEMORY_GOAL_MB))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny scales and 2 s loads (CI smoke test); report in bench/out/quick")
    parser.add_argument("--out", type=Path, help="where to write BENCHMARKS.md and .json")
    parser.add_argument("--only", choices=BENCHMARKS, action="append",
                        help="run only these benchmarks (repeatable)")
    parser.add_argument("--previous", type=Path,
                        help="a BENCHMARKS.json to compare with (default: the one being replaced)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    command = "make bench-quick" if args.quick else "make bench"
    out = args.out or (ROOT / "bench" / "out" / "quick" if args.quick else ROOT)
    previous_path = args.previous or out / "BENCHMARKS.json"
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else None
    work = ROOT / "bench" / "out" / plan.name / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    only = set(args.only or BENCHMARKS)
    try:
        wrk_path = wrk.ensure_wrk()
        context = Context(plan, ROOT, work, wrk_path)
        facts = machine.describe(wrk.wrk_version(wrk_path))
        findings = Findings()
        if "token" in only:
            token_bench.run(context, findings)
        if "consent" in only:
            consent_bench.run(context, findings)
        bulk = data_bench.run(context, findings) if "data" in only else {}
        if "import" in only:
            import_bench.run(context, findings, bulk)
        if "approval" in only:
            approval_bench.run(context, findings)
        if "webhooks" in only:
            webhook_bench.run(context, findings)
        if "reminders" in only:
            reminder_bench.run(context, findings)
        if "updates" in only:
            if importlib.util.find_spec("consenthub.access_updates") is None:
                _not_yet(findings)
            else:
                updates_bench.run(context, findings)
        _memory(findings)
    except (HarnessError, wrk.WrkError, RuntimeError, OSError) as exc:
        log(f"the harness failed: {exc}")
        return 1
    minutes = (time.monotonic() - started) / 60
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    md, js = report.write(out, findings, facts, plan, command, generated, minutes, previous)
    log(f"done in {minutes:.1f} min: {md} and {js}")
    print(md.read_text())
    return 0
