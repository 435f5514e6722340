"""Benchmark 6: webhooks (SPEC §10, §12) — one ``consenthub worker`` delivering the outbox.

A receiver process on loopback (``bench/webhook_receiver.py``: uvicorn, one worker,
pinned to the load core) answers 204 and records each ``webhook-id`` with its
arrival time; it verifies one delivery in ``Plan.webhook_verify_every`` with the
``standardwebhooks`` package against the party's secret. Per backend, on a fresh
database, ``Plan.webhook_parties`` parties are subscribed to it
(``registry.set_webhook``), one endpoint path each.

Throughput: one ``consenthub worker`` process (pinned to the server core) is
started and left to go idle; then a backlog of ``Plan.webhook_events`` events
(``grant.started``, spread evenly over the parties) commits in one transaction
through ``outbox.enqueue_webhooks``, so the worker meets the whole backlog at once,
as if enqueued before it started, with its start-up outside what is measured.
Figure: events/s from the first to the last arrival at the receiver; also the
worker's CPU time per event (with its PostgreSQL backends) from the commit until
every message is recorded delivered. Baseline, interleaved round by round: the
same number of POSTs of the same bodies and headers to the same receiver from a
plain ``aiohttp.ClientSession`` process (``bench/webhook_baseline.py``) pinned where
the worker runs, with the worker's HTTP client, settings and concurrency (one chain
per party, the parties side by side): what network, aiohttp and receiver cost
without the outbox.

Latency: a worker started and idle; the harness commits single events at
``Plan.webhook_latency_rate`` per second, each its own transaction through the
real path (``grants.create_grant``: the grant, its audit event and its outbox row
together), and takes ``time.time()`` when the commit returns; the receiver takes
``time.time()`` on arrival (same machine, same clock). The commit time cannot be
inside the event (it is known only after the commit), so events and commits are
matched by ``grantId``. Figure: commit → arrival p50/p90/p99.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from bench import databases, hub, ids
from bench.loads import Context, HarnessError, log
from bench.procs import LOAD_CPU, SERVER_CPU, Server, cpu_seconds, free_port
from bench.results import Figure, Findings, Section, ratio
from bench.webhook_baseline import event_data
from consenthub import grants, outbox, registry
from consenthub.domain.access import EventType
from consenthub.store.database import Database
from consenthub.store.tables import EndUser, MeteringPoint, OutboxMessage
from consenthub.worker.delivery import CONNECTIONS_PER_ORIGIN
from consenthub.worker.runner import MESSAGES_PER_PARTY, PARTIES_PER_CLAIM

THROUGHPUT_GOAL = 1_000.0  # events/s, SPEC §12
LATENCY_GOAL_MS = {"postgresql": 100.0, "sqlite": 500.0}  # p50, the issue
POLL_SECONDS = 0.05
IDLE_SECONDS = 0.5
STARTUP_CPU_SECONDS = 0.3
WARMUP_EVENTS = 3
VALID_FROM = dt.date(2025, 1, 1)
HARNESS_APPLICATION = "consenthub-bench-harness"


@dataclass
class Round:
    """One throughput round: ``events`` delivered, first to last arrival in ``seconds``."""

    events: int
    seconds: float
    cpu_ms: float  # sender's CPU per event (the worker's with its PostgreSQL backends)
    receiver_cpu_ms: float
    drain_seconds: float  # from the commit (or the baseline's start) to the last arrival
    load_1m: float

    @property
    def per_second(self) -> float:
        return (self.events - 1) / self.seconds if self.seconds > 0 else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "events_per_s": round(self.per_second, 1),
                "first_to_last_s": round(self.seconds, 3),
                "drain_s": round(self.drain_seconds, 3), "cpu_ms_per_event": round(self.cpu_ms, 4),
                "receiver_cpu_ms_per_event": round(self.receiver_cpu_ms, 4),
                "load_1m": round(self.load_1m, 2)}


@dataclass
class Throughput:
    label: str
    rounds: list[Round] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return statistics.median(r.per_second for r in self.rounds)

    @property
    def cpu_ms(self) -> float:
        return statistics.median(r.cpu_ms for r in self.rounds)

    @property
    def receiver_cpu_ms(self) -> float:
        return statistics.median(r.receiver_cpu_ms for r in self.rounds)

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "events_per_s": round(self.per_second, 1),
                "cpu_ms_per_event": round(self.cpu_ms, 4),
                "receiver_cpu_ms_per_event": round(self.receiver_cpu_ms, 4),
                "rounds": [r.as_json() for r in self.rounds]}


@dataclass
class Outcome:
    kind: str
    worker: Throughput
    baseline: Throughput
    latency_ms: list[float] = field(default_factory=list)
    verified: int = 0
    out_of_order: int = 0
    repeated: int = 0
    worker_rss_mb: float = 0.0

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latency_ms, n=100, method="inclusive")[p - 1]


class ReceiverClient:
    """The receiver process and the harness's view of it."""

    def __init__(self, context: Context) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "bench.webhook_receiver", "--port", str(port),
                "--verify-every", str(context.plan.webhook_verify_every),
                "--log-level", hub.LOG_LEVEL]
        self.server = Server("webhook-receiver", argv, {**os.environ}, port,
                             context.work / "webhook-receiver.log", cwd=context.root,
                             cpu=LOAD_CPU)
        try:
            self.server.wait_ready("/healthz")
        except Exception:
            self.server.stop()
            raise
        self.http = httpx.Client(base_url=self.server.base_url, timeout=30, trust_env=False)

    def url(self, path: str) -> str:
        return f"{self.server.base_url}{path}"

    def secrets(self, secrets: dict[str, str]) -> None:
        self.http.put("/secrets", json=secrets).raise_for_status()

    def reset(self) -> None:
        self.http.post("/reset").raise_for_status()

    def counts(self) -> dict[str, Any]:
        reply = self.http.get("/counts")
        reply.raise_for_status()
        counts: dict[str, Any] = reply.json()
        if counts["failed_count"]:
            raise HarnessError(f"webhooks: {counts['failed_count']} deliveries failed "
                               f"verification with standardwebhooks: {counts['failed']}")
        return counts

    def arrivals(self) -> dict[str, Any]:
        reply = self.http.get("/arrivals")
        reply.raise_for_status()
        found: dict[str, Any] = reply.json()
        return found

    def cpu(self) -> float:
        return cpu_seconds([self.server.worker_pid()])

    def close(self) -> None:
        self.http.close()
        self.server.stop()


@dataclass(frozen=True)
class Setup:
    database: Database
    secret_key: str
    # The throughput parties' ids, by receiver path index; the latency party and the
    # end user and metering point its grants are on.
    parties: list[int]
    latency_party: int
    end_user: int
    metering_point: int


def set_up(url: str, receiver: ReceiverClient, parties: int) -> Setup:
    """Migrate; the parties, subscribed to the receiver (their secrets handed to it); the
    latency party's end user and metering point. The harness's own PostgreSQL connections
    carry ``application_name`` HARNESS_APPLICATION, so the worker's CPU leaves them out."""
    key = hub.new_secret_key()
    if url.startswith("postgresql"):
        url = make_url(url).update_query_dict({"application_name": HARNESS_APPLICATION}
                                              ).render_as_string(hide_password=False)
    database = hub.migrate(url, key)
    created = hub.add_parties(database, key, parties + 1)
    now = dt.datetime.now(dt.UTC)
    secrets = {}
    with database.write() as conn:
        for n, credentials in enumerate(created):
            endpoint = registry.set_webhook(conn, key.encode(), credentials.party.client_id,
                                            receiver.url(f"/hook/{n}"), now=now, actor="bench")
            assert endpoint.new_secret is not None
            secrets[str(n)] = endpoint.new_secret
        end_user = conn.execute(
            insert(EndUser).values(
                **dict(zip(hub.SEALED_ID_COLUMNS,
                           hub.sealed_id(hub.id_cipher(key), next(ids.synthetic_fodselsnummer())),
                           strict=True)),
                kind="person-no").returning(EndUser.id)).scalar_one()
        metering_point = conn.execute(
            insert(MeteringPoint).values(gsrn=ids.gsrn(600_000), settlement_point=True,
                                         grid_area="NO1", extended_storage=False)
            .returning(MeteringPoint.id)).scalar_one()
    receiver.secrets(secrets)
    return Setup(database, key, [c.party.id for c in created[:parties]], created[parties].party.id,
                 end_user, metering_point)


def _worker(context: Context, kind: str, url: str, secret_key: str, name: str) -> Server:
    env = {
        **os.environ,
        "CONSENTHUB_DATABASE_URL": url,
        "CONSENTHUB_SECRET_KEY": secret_key,
        "CONSENTHUB_WEBHOOK_ALLOW_PRIVATE": "true",
        "CONSENTHUB_LOG_LEVEL": hub.LOG_LEVEL,
    }
    return Server(f"worker-{kind}", [str(hub.CONSENTHUB), "worker"], env, 0,
                  context.work / f"{name}.log", cpu=SERVER_CPU)


def _sender_pids(worker: Server, backend: databases.Backend) -> list[int]:
    """The worker and, on PostgreSQL, the backends of its connections (not the harness's)."""
    return [worker.worker_pid(),
            *databases.backend_pids(backend, excluding_application=HARNESS_APPLICATION)]


def _wait_idle(worker: Server, pids: list[int]) -> None:
    """Until the fresh worker has started (imports, first round) and sits idle: it used
    under a tenth of a core in each of the last two half seconds, after it used the CPU
    time of its start-up (importing consenthub takes far more than STARTUP_CPU_SECONDS)."""
    deadline = time.monotonic() + 60
    start = previous = cpu_seconds(pids)
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise HarnessError("webhooks: the worker did not go idle within 60 s")
        time.sleep(IDLE_SECONDS)
        if worker.process.poll() is not None:
            raise HarnessError(f"webhooks: the worker exited: {worker.log_tail()}")
        used = cpu_seconds(pids)
        idle = used - previous < 0.1 * IDLE_SECONDS and used - start > STARTUP_CPU_SECONDS
        quiet = quiet + 1 if idle else 0
        previous = used


def _open_messages(database: Database) -> tuple[int, int]:
    """Messages not yet delivered, and messages given up, in the whole outbox."""
    with database.read() as conn:
        open_count = conn.execute(
            select(func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.delivered_at.is_(None))).scalar_one()
        failed = conn.execute(
            select(func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.failed_at.is_not(None))).scalar_one()
    return int(open_count), int(failed)


def _outbox_state(database: Database) -> str:
    """What the outbox holds that is not delivered, for an error message."""
    with database.read() as conn:
        rows = conn.execute(
            select(OutboxMessage.party_id, OutboxMessage.attempts, OutboxMessage.last_error,
                   OutboxMessage.lease_until.is_not(None).label("leased"), func.count())
            .where(OutboxMessage.delivered_at.is_(None))
            .group_by(OutboxMessage.party_id, OutboxMessage.attempts, OutboxMessage.last_error,
                      OutboxMessage.lease_until.is_not(None))
            .limit(10)).all()
    return "; ".join(f"party {r.party_id}: {r[4]} open (attempts {r.attempts}, leased "
                     f"{r.leased}, last error {r.last_error})" for r in rows) or "nothing open"


def _await_arrivals(receiver: ReceiverClient, expected: int, what: str, timeout: float,
                    database: Database) -> None:
    deadline = time.monotonic() + timeout
    while receiver.counts()["received"] < expected:
        if time.monotonic() > deadline:
            raise HarnessError(f"webhooks: {what}: {receiver.counts()['received']} of "
                               f"{expected} arrived within {timeout:.0f} s; outbox: "
                               f"{_outbox_state(database)}")
        time.sleep(POLL_SECONDS)


def _first_to_last(arrivals: dict[str, Any], expected: int, what: str) -> tuple[float, float]:
    times = [entry[0] for entry in arrivals["arrivals"].values()]
    if len(times) != expected:
        raise HarnessError(f"webhooks: {what}: {len(times)} distinct webhook-ids, "
                           f"not {expected}")
    return min(times), max(times)


def _out_of_order(arrivals: dict[str, Any]) -> int:
    """Deliveries that arrived before an earlier event of the same party."""
    by_party: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for arrival, party, key in arrivals["arrivals"].values():
        by_party[party].append((arrival, key))
    late = 0
    for entries in by_party.values():
        keys = [key for _, key in sorted(entries)]
        late += sum(1 for before, after in itertools.pairwise(keys) if after < before)
    return late


def worker_round(context: Context, kind: str, backend: databases.Backend, setup: Setup,
                 receiver: ReceiverClient, number: int,
                 on_idle: Callable[[Server], object] | None = None,
                 ) -> tuple[Round, dict[str, Any], float]:
    """One throughput round of a fresh worker; ``on_idle`` is called with the worker once
    it is idle, just before the backlog commits (``bench.profile`` starts py-spy there).
    Returns the round, the receiver's arrivals and the worker's peak RSS in MB."""
    plan = context.plan
    per_party = plan.webhook_events // len(setup.parties)
    events = per_party * len(setup.parties)
    receiver.reset()
    worker = _worker(context, kind, backend.url, setup.secret_key,
                     f"webhook-worker-{kind}-{number}")
    try:
        _wait_idle(worker, _sender_pids(worker, backend))
        pids = _sender_pids(worker, backend)
        if on_idle is not None:
            on_idle(worker)
        now = dt.datetime.now(dt.UTC)
        with setup.database.write() as conn:
            for n, party_id in enumerate(setup.parties):
                outbox.enqueue_webhooks(
                    conn, party_id,
                    [outbox.Event(EventType.GRANT_STARTED,
                                  event_data(n * per_party + sequence, sequence))
                     for sequence in range(per_party)], now=now)
            cpu_before, receiver_before = cpu_seconds(pids), receiver.cpu()
        committed = time.time()
        _await_arrivals(receiver, events, f"worker on {kind}", max(60.0, events / 20),
                        setup.database)
        deadline = time.monotonic() + 60
        while (left := _open_messages(setup.database))[0]:
            if time.monotonic() > deadline:
                raise HarnessError(f"webhooks: {left[0]} messages still open on {kind}: "
                                   f"{_outbox_state(setup.database)}")
            time.sleep(POLL_SECONDS)
        if left[1]:
            raise HarnessError(f"webhooks: {left[1]} messages given up on {kind}: "
                               f"{worker.log_tail()}")
        # Backends the worker opened meanwhile count in full (they started at 0).
        cpu = cpu_seconds(sorted({*pids, *_sender_pids(worker, backend)})) - cpu_before
        receiver_cpu = receiver.cpu() - receiver_before
        rss = worker.peak_rss_mb()
    finally:
        worker.stop()
    arrivals = receiver.arrivals()
    first, last = _first_to_last(arrivals, events, f"worker on {kind}")
    return (Round(events, last - first, 1000 * cpu / events, 1000 * receiver_cpu / events,
                  last - committed, os.getloadavg()[0]), arrivals, rss)


def _baseline_round(context: Context, setup: Setup, receiver: ReceiverClient,
                    number: int) -> Round:
    plan = context.plan
    parties = len(setup.parties)
    per_party = plan.webhook_events // parties
    events = per_party * parties
    receiver.reset()
    argv = [sys.executable, "-m", "bench.webhook_baseline", "--url", receiver.url("/plain"),
            "--parties", str(parties), "--per-party", str(per_party)]
    started = time.time()
    client = Server("webhook-baseline", argv, {**os.environ}, 0,
                    context.work / f"webhook-baseline-{number}.log", cwd=context.root,
                    cpu=SERVER_CPU)
    try:
        # Its start-up (imports) is left out: CPU counts from the first arrival seen.
        deadline = time.monotonic() + 60
        while (seen := receiver.counts()["received"]) == 0:
            if client.process.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(f"webhooks: the baseline sent nothing: {client.log_tail()}")
            time.sleep(0.005)
        pid = client.process.pid
        cpu_before, receiver_before = cpu_seconds([pid]), receiver.cpu()
        _await_arrivals(receiver, events, "baseline", max(60.0, events / 20), setup.database)
        cpu = cpu_seconds([pid]) - cpu_before
        receiver_cpu = receiver.cpu() - receiver_before
        if client.process.wait(timeout=30) != 0:
            raise HarnessError(f"webhooks: the baseline failed: {client.log_tail()}")
    finally:
        client.stop()
    first, last = _first_to_last(receiver.arrivals(), events, "baseline")
    counted = max(1, events - seen)
    return Round(events, last - first, 1000 * cpu / counted, 1000 * receiver_cpu / counted,
                 last - started, os.getloadavg()[0])


def _latency(context: Context, kind: str, backend: databases.Backend, setup: Setup,
             receiver: ReceiverClient) -> list[float]:
    plan = context.plan
    count = round(plan.webhook_latency_rate * plan.webhook_latency_seconds)
    receiver.reset()
    worker = _worker(context, kind, backend.url, setup.secret_key, f"webhook-latency-{kind}")
    committed: dict[int, float] = {}

    def commit() -> None:
        with setup.database.write() as conn:
            grant_id = grants.create_grant(
                conn, party_id=setup.latency_party, metering_point_id=setup.metering_point,
                end_user_id=setup.end_user, scope="Full", valid_from=VALID_FROM, actor="bench")
        committed[grant_id] = time.time()

    try:
        _wait_idle(worker, _sender_pids(worker, backend))
        for _ in range(WARMUP_EVENTS):
            commit()
        _await_arrivals(receiver, WARMUP_EVENTS, f"latency warm-up on {kind}", 30,
                        setup.database)
        warm = set(committed)
        time.sleep(1.0)  # idle again
        started = time.monotonic()
        for n in range(count):
            pause = started + n / plan.webhook_latency_rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            commit()
        _await_arrivals(receiver, WARMUP_EVENTS + count, f"latency on {kind}", 60,
                        setup.database)
    finally:
        worker.stop()
    arrived = {int(key): arrival
               for arrival, _party, key in receiver.arrivals()["arrivals"].values()}
    return [1000 * (arrived[grant_id] - at) for grant_id, at in committed.items()
            if grant_id not in warm]


def _one_backend(context: Context, kind: str, receiver: ReceiverClient) -> Outcome:
    plan = context.plan
    backend = databases.fresh(kind, context.work, "webhooks")
    setup: Setup | None = None
    try:
        setup = set_up(backend.url, receiver, plan.webhook_parties)
        outcome = Outcome(kind, Throughput(f"consenthub worker ({kind})"),
                          Throughput(f"aiohttp loop, no outbox ({kind} round)"))
        for number in range(plan.webhook_rounds):
            worker_first = number % 2 == 0
            for which in ("worker", "baseline") if worker_first else ("baseline", "worker"):
                if which == "worker":
                    result, arrivals, rss = worker_round(context, kind, backend, setup,
                                                          receiver, number)
                    outcome.worker.rounds.append(result)
                    outcome.verified += receiver.counts()["verified"]
                    outcome.repeated += int(arrivals["repeated"])
                    outcome.out_of_order += _out_of_order(arrivals)
                    outcome.worker_rss_mb = max(outcome.worker_rss_mb, rss)
                else:
                    result = _baseline_round(context, setup, receiver, number)
                    outcome.baseline.rounds.append(result)
                log(f"webhooks {kind} round {number + 1}/{plan.webhook_rounds} {which}: "
                    f"{result.per_second:,.0f} events/s, CPU {result.cpu_ms:.3f} ms/event, "
                    f"load {result.load_1m:.1f}")
        if not outcome.verified:
            raise HarnessError("webhooks: no delivery was verified with standardwebhooks")
        outcome.latency_ms = _latency(context, kind, backend, setup, receiver)
        log(f"webhooks {kind} latency: p50 {outcome.percentile(50):.1f} ms, "
            f"p99 {outcome.percentile(99):.1f} ms over {len(outcome.latency_ms)} events")
        return outcome
    finally:
        if setup is not None:
            setup.database.dispose()
        databases.drop(backend)


def run(context: Context, findings: Findings) -> None:
    plan = context.plan
    log(f"webhooks: {plan.webhook_events:,} events over {plan.webhook_parties} parties, "
        f"{plan.webhook_rounds} round(s); latency {plan.webhook_latency_rate:g}/s for "
        f"{plan.webhook_latency_seconds:g} s; SQLite and PostgreSQL")
    receiver = ReceiverClient(context)
    try:
        outcomes = [_one_backend(context, kind, receiver) for kind in ("sqlite", "postgresql")]
    finally:
        receiver.close()
    _report(findings, outcomes, context)


def _report(findings: Findings, outcomes: list[Outcome], context: Context) -> None:
    plan = context.plan
    for o in outcomes:
        w, b = o.worker, o.baseline
        met = w.per_second >= THROUGHPUT_GOAL
        findings.figures.append(Figure(
            "Webhooks, one worker",
            f"{o.kind}: delivery rate of a backlog of {w.rounds[0].events:,} events to a "
            "loopback receiver",
            f"{w.per_second:,.0f} events/s (CPU {w.cpu_ms:.2f} ms/event)",
            "plain aiohttp loop, same POSTs, client settings, receiver and concurrency: "
            f"{b.per_second:,.0f} POSTs/s (CPU {b.cpu_ms:.2f} ms/POST)",
            f"{ratio(w.per_second, b.per_second):.2f} "
            f"(CPU: {ratio(b.cpu_ms, w.cpu_ms):.2f})",
            f"≥ {THROUGHPUT_GOAL:,.0f}/s", met,
            note=f"median of {plan.webhook_rounds} round(s), worker and baseline interleaved; "
                 "first to last arrival at the receiver; the worker's CPU includes its "
                 "PostgreSQL backends"))
    for o in outcomes:
        goal = LATENCY_GOAL_MS[o.kind]
        wake = ("woken by NOTIFY at commit" if o.kind == "postgresql" else
                "polls every CONSENTHUB_WORKER_POLL_SECONDS (default 0.25 s)")
        findings.figures.append(Figure(
            "Webhooks, commit to delivery",
            f"{o.kind}: single grants committed at {plan.webhook_latency_rate:g}/s, idle worker",
            f"p50 {o.percentile(50):.1f} ms, p90 {o.percentile(90):.1f} ms, "
            f"p99 {o.percentile(99):.1f} ms",
            goal=f"p50 < {goal:.0f} ms", met=o.percentile(50) < goal,
            note=f"{len(o.latency_ms)} events, each its own transaction "
                 f"(grants.create_grant); the worker {wake}; time.time() when the commit "
                 "returns to time.time() on arrival, same machine"))
    section = Section("Webhooks")
    section.lines += [
        f"A receiver process (`bench/webhook_receiver.py`: Starlette on uvicorn, one worker, "
        f"the arguments of `consenthub serve`) on 127.0.0.1, pinned to CPU {LOAD_CPU}, answers "
        "204 and records each `webhook-id` with its arrival time; it verifies one delivery in "
        f"{plan.webhook_verify_every} with the `standardwebhooks` package against the party's "
        "secret (any failure stops the run). Per backend a fresh database with "
        f"{plan.webhook_parties} parties subscribed to it (`registry.set_webhook`). "
        f"`consenthub worker` and the baseline run pinned to CPU {SERVER_CPU}; PostgreSQL is "
        "not pinned.",
        "",
        "Throughput: one `consenthub worker` process is started and left to go idle (its "
        "start-up is not measured); then a backlog of "
        f"{plan.webhook_events:,} `grant.started` events, spread evenly over the parties, "
        "commits in one transaction (`outbox.enqueue_webhooks`), so the worker meets all of "
        "it at once. Rate: distinct `webhook-id`s ÷ first-to-last arrival at the receiver. "
        "CPU: the worker's (and on PostgreSQL its backends') from the commit until the outbox "
        "records every message delivered, per event. The worker claims up to "
        f"{PARTIES_PER_CLAIM} parties × {MESSAGES_PER_PARTY} messages at a time, delivers the "
        "parties side by side and each party's messages one after the other. Baseline, "
        "interleaved round by round (order reversed every other round): "
        "`bench/webhook_baseline.py`, one process with one `aiohttp.ClientSession` with the "
        "worker's client settings, sends the same number of POSTs of the same bodies and "
        "headers (signature a fixed string, not computed) with the same concurrency (one "
        "chain per party, all side by side) to the same receiver; its CPU counts from the "
        "first arrival (start-up left out). \"Drain\" is from the commit (baseline: process "
        "start) to the last arrival. Every round also checks the outbox: every message "
        "delivered once, none given up. Per-event CPU includes opening the connections to "
        f"the receiver (at most {CONNECTIONS_PER_ORIGIN}, kept alive); the "
        "receiver's includes the harness's polls of its counts (every "
        f"{POLL_SECONDS * 1000:.0f} ms).",
        "",
        "| backend | sender | events/s (median) | CPU ms/event | receiver CPU ms/event | "
        "rounds: events/s, first→last s, drain s @ load |",
        "|---|---|---:|---:|---:|---|",
        *(f"| {o.kind} | {t.label} | {t.per_second:,.0f} | {t.cpu_ms:.3f} | "
          f"{t.receiver_cpu_ms:.3f} | "
          + ", ".join(f"{r.per_second:,.0f}, {r.seconds:.2f}, {r.drain_seconds:.2f} @ "
                      f"{r.load_1m:.1f}" for r in t.rounds) + " |"
          for o in outcomes for t in (o.worker, o.baseline)),
        "",
        "Checks over the worker's rounds: "
        + "; ".join(f"{o.kind}: {o.verified} deliveries verified with standardwebhooks, "
                    f"{o.repeated} delivered twice, {o.out_of_order} out of order per party, "
                    f"worker peak RSS {o.worker_rss_mb:.0f} MB" for o in outcomes) + ".",
        "",
        "Latency: a fresh worker, started and idle; "
        f"{WARMUP_EVENTS} untimed warm-up events, then "
        f"{round(plan.webhook_latency_rate * plan.webhook_latency_seconds)} grants committed "
        f"one at a time at {plan.webhook_latency_rate:g}/s for "
        f"{plan.webhook_latency_seconds:g} s, each its own transaction through "
        "`grants.create_grant` (grant, audit event and outbox row together), by the harness "
        "(not pinned). The commit time is `time.time()` when the commit returns; the arrival "
        "time is the receiver's `time.time()`; they are matched by the event's `grantId`. On "
        "PostgreSQL the worker is woken by NOTIFY at commit; on SQLite it looks every "
        "`CONSENTHUB_WORKER_POLL_SECONDS` (default 0.25 s), which bounds its latency.",
        "",
        "| backend | events | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {o.kind} | {len(o.latency_ms)} | {o.percentile(50):.1f} | "
          f"{o.percentile(90):.1f} | {o.percentile(99):.1f} | {max(o.latency_ms):.1f} |"
          for o in outcomes),
    ]
    section.data = {o.kind: {"worker": o.worker.as_json(), "baseline": o.baseline.as_json(),
                             "latency_ms": {"p50": round(o.percentile(50), 2),
                                            "p90": round(o.percentile(90), 2),
                                            "p99": round(o.percentile(99), 2),
                                            "all": [round(ms, 2) for ms in o.latency_ms]},
                             "verified": o.verified, "repeated": o.repeated,
                             "out_of_order": o.out_of_order,
                             "worker_peak_rss_mb": o.worker_rss_mb}
                    for o in outcomes}
    findings.sections.append(section)
