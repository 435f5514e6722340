"""Benchmark 8: reminders (SPEC §6, §12) — 10,000 DH-831 reminders falling due at once,
handed by one ``consenthub worker`` to a loopback SMTP server.

The SMTP server is the demo's sink (``consenthub.demo.start_mail_sink``: aiosmtpd,
one ``.eml`` file per accepted message) in a process of its own, pinned to the load
core. Per backend, on a fresh database: one ``consenthub worker`` (pinned to the
server core, ``CONSENTHUB_SMTP_*`` pointing at the sink) is started and left to go
idle; then ``Plan.reminder_count`` reminder mails (``authorization_request_reminder``,
each its own recipient and context) commit in one transaction through
``outbox.enqueue_mail``, due at once, so they fall due together. Figure: seconds from
the commit until the sink holds every message; goal < 60 s for 10,000. Baseline in
the same run: the same number of messages sent to the same sink by a plain aiosmtplib
loop with the worker's concurrency (``bench/smtp_baseline.py``), what SMTP and the
sink cost without the outbox, rendering and recording.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import databases, hub
from bench.loads import Context, HarnessError, log
from bench.procs import LOAD_CPU, SERVER_CPU, Server, free_port
from bench.results import Figure, Findings, Section, ratio
from bench.webhook_bench import _wait_idle
from consenthub import outbox
from consenthub.mail import Mail

GOAL_SECONDS = 60.0  # for 10,000 reminders, the issue
POLL_SECONDS = 0.1


@dataclass
class Outcome:
    kind: str
    count: int
    worker_seconds: float
    baseline_seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.worker_seconds

    @property
    def goal_seconds(self) -> float:
        """The goal scaled to this run's count (60 s for 10,000)."""
        return GOAL_SECONDS * self.count / 10_000


def _sink(context: Context, folder: Path, port: int, name: str) -> Server:
    code = (
        "import sys, time; from pathlib import Path; "
        "from consenthub.demo import start_mail_sink; "
        f"start_mail_sink({port}, Path({str(folder)!r})); "
        "time.sleep(10**6)"
    )
    return Server(name, [sys.executable, "-c", code], dict(os.environ), port,
                  context.work / f"{name}.log", cpu=LOAD_CPU)


def _count(folder: Path) -> int:
    try:
        return sum(1 for entry in os.scandir(folder) if entry.name.endswith(".eml"))
    except FileNotFoundError:
        return 0


def _await(folder: Path, expected: int, what: str, started: float, timeout: float) -> float:
    """Seconds from ``started`` until ``folder`` holds ``expected`` messages."""
    while _count(folder) < expected:
        if time.monotonic() - started > timeout:
            raise HarnessError(f"reminders: {what}: {_count(folder)} of {expected} arrived")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def _reminder(n: int) -> Mail:
    return Mail(
        template="authorization_request_reminder",
        to_address=f"customer{n}@bench.example.fi",
        to_name=f"Asiakas {n}",
        language=("fi", "sv", "en", "nb")[n % 4],
        context={
            "seller_name": "Sähkö Oy",
            "customer_name": f"Asiakas {n}",
            "accounting_points": ["643000000000000017"],
            "valid_from": "2027-01-01",
            "valid_to": None,
            "reason": "Sähkösopimus",
            "description": None,
            "link": f"http://127.0.0.1:8000/minside/requests/{n}",
            "expires_at": "2027-01-31T22:00:00+00:00",
        },
    )


def _one_backend(context: Context, kind: str) -> Outcome:
    count = context.plan.reminder_count
    backend = databases.fresh(kind, context.work, "reminders")
    key = hub.new_secret_key()
    database = hub.migrate(backend.url, key)
    port = free_port()
    folder = context.work / f"mail-{kind}"
    sink = _sink(context, folder, port, f"smtp-sink-{kind}")
    worker = None
    try:
        time.sleep(1.0)  # the sink binds its port
        env = {
            **os.environ,
            "CONSENTHUB_DATABASE_URL": backend.url,
            "CONSENTHUB_SECRET_KEY": key,
            "CONSENTHUB_SMTP_HOST": "127.0.0.1",
            "CONSENTHUB_SMTP_PORT": str(port),
            "CONSENTHUB_LOG_LEVEL": hub.LOG_LEVEL,
        }
        worker = Server(f"worker-reminders-{kind}", [str(hub.CONSENTHUB), "worker"], env, 0,
                        context.work / f"worker-reminders-{kind}.log", cpu=SERVER_CPU)
        _wait_idle(worker, [worker.worker_pid()])
        now = dt.datetime.now(dt.UTC)
        with database.write() as conn:
            for n in range(count):
                outbox.enqueue_mail(conn, _reminder(n), event_type="mail.reminder.bench",
                                    due_at=now, now=now)
        started = time.monotonic()
        worker_seconds = _await(folder, count, "the worker", started, timeout=600)
        log(f"reminders ({kind}): {count:,} handed to SMTP in {worker_seconds:.1f} s")
        worker.stop()
        worker = None
        baseline_started = time.monotonic()
        baseline = Server(f"smtp-baseline-{kind}",
                          [sys.executable, "-m", "bench.smtp_baseline", str(port), str(count)],
                          dict(os.environ), 0, context.work / f"smtp-baseline-{kind}.log",
                          cwd=context.root, cpu=SERVER_CPU)
        try:
            baseline_seconds = _await(folder, 2 * count, "the baseline", baseline_started,
                                      timeout=600)
        finally:
            baseline.stop()
        log(f"reminders ({kind}): baseline {count:,} in {baseline_seconds:.1f} s")
    finally:
        if worker is not None:
            worker.stop()
        sink.stop()
        database.dispose()
        databases.drop(backend)
    return Outcome(kind, count, worker_seconds, baseline_seconds)


def run(context: Context, findings: Findings) -> None:
    log(f"reminders: {context.plan.reminder_count:,} due at once, one worker, SQLite and "
        "PostgreSQL")
    outcomes = [_one_backend(context, kind) for kind in ("sqlite", "postgresql")]
    for o in outcomes:
        findings.figures.append(Figure(
            "Reminders falling due at once",
            f"{o.kind}: {o.count:,} DH-831 reminders handed to a loopback SMTP server by one "
            "worker",
            f"{o.worker_seconds:.1f} s ({o.per_second:,.0f} mails/s)",
            f"plain aiosmtplib loop, same count, sink and concurrency: "
            f"{o.baseline_seconds:.1f} s",
            f"{ratio(o.worker_seconds, o.baseline_seconds):.2f}",
            f"< {o.goal_seconds:.0f} s" + (" (60 s for 10,000)" if o.count != 10_000 else ""),
            o.worker_seconds < o.goal_seconds,
            note="from the commit of the due reminders until the sink holds every message; "
                 "rendered in four languages, recorded delivered one by one"))
    section = Section("Reminders")
    section.lines += [
        "One `consenthub worker` (pinned to the server core) sends the reminders; the SMTP "
        "server is the demo's sink (aiosmtpd, one `.eml` file per message) in its own "
        f"process pinned to CPU {LOAD_CPU}. The reminders commit in one transaction, due at "
        "once, while the worker is idle; the time runs from that commit until the sink holds "
        "every message. The baseline (`bench/smtp_baseline.py`) sends the same number of "
        "small messages with aiosmtplib and the worker's concurrency, from a process pinned "
        "where the worker ran.",
        "",
        "| backend | reminders | worker s | mails/s | baseline s |",
        "|---|---:|---:|---:|---:|",
        *(f"| {o.kind} | {o.count:,} | {o.worker_seconds:.1f} | {o.per_second:,.0f} | "
          f"{o.baseline_seconds:.1f} |" for o in outcomes),
    ]
    findings.sections.append(section)

