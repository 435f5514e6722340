"""Benchmark 7: BRS-NO-622 messages (SPEC §5, §12) — ``POST /api/v1/third-party-access/updates``.

A real ``consenthub serve`` (one worker, pinned as the others are) on a fresh SQLite
file and a fresh PostgreSQL database. One third party (role ``third_party``) with a
client secret gets a token with scope ``third-party-access``; the harness sends it
messages 34 from one keep-alive ``httpx`` connection on loopback and times each POST
from sending the request to having read the whole acknowledgement 37 (the body is
encoded beforehand; the answer is parsed and checked afterwards).

Data, loaded set-based before the server starts (as ``bench/dataset.py`` does:
executemany on SQLite, COPY on PostgreSQL, then VACUUM (ANALYZE)): metering points
(settlement points), ``Plan.updates_points_per_end_user`` per end user, each with a
supply period open today; the party holds a live contract (grant) on those the mixed
messages remove or update. Every message names metering points of its own, so every
item is judged on the path it is measured for:

- ``adds``: ``Plan.updates_large`` ``add`` items on metering points the party has never
  asked for: every item ``accepted`` (one pending request per end user, its items, its
  audit event). The headline, against ``adds (small)``: ``Plan.updates_small`` of the
  same (the goal: the large one costs ≤ 11× the small one, and takes under 1 s).
- ``mixed``: ``Plan.updates_large`` items, a third each ``add`` (fresh metering
  points), ``remove`` and ``update`` (a new end) of the party's contracts: all accepted.
- ``pending``: the warm-up's large ``add`` message again, under a new ``messageId``:
  every item rejected ``EH098`` (a request of the party is already pending there).

Every message carries a fresh ``messageId`` (so its acknowledgement is stored too) and
its items in shuffled order. After ``Plan.updates_warmup`` untimed rounds, the four
messages are sent once per round for ``Plan.updates_rounds`` rounds, each taking each
place in the order in turn. CPU per message: the server worker's (and on PostgreSQL the
database processes serving it) over the POST (the scheduler's ns counts). After the run the
harness checks the database: the pending request items, ended and changed contracts
are exactly those the accepted items asked for.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from bench import databases, hub, ids
from bench.dataset import write_rows
from bench.loads import Context, HarnessError, log
from bench.plan import Plan
from bench.procs import Server, cpu_seconds
from bench.results import Figure, Findings, Section, ratio
from consenthub.domain.access import EndReason
from consenthub.registry.store import NewCredentials
from consenthub.store.database import Database
from consenthub.store.tables import AccessRequest, AccessRequestItem, Grant

PATH = "/api/v1/third-party-access/updates"
SCOPE = "third-party-access"
# The issue: 10,000 items acknowledged in under 1 s, and 10 k items cost ≤ 11× 1 k items;
# SPEC §12: under 2 s (aim 1 s), ≤ 12×.
TIME_GOAL_S = 1.0
SPEC_TIME_S = 2.0
RATIO_GOAL = 11.0
SPEC_RATIO = 12.0
MOVE_IN = "2020-01-01"
CONTRACT_FROM = "2024-01-01"
UPDATED_END = "2030-12-31"  # what every ``update`` item asks for (after CONTRACT_FROM)
PENDING = "EH098"
MEMORY_GOAL_MB = 150.0  # SPEC §12, one server worker under load


@dataclass(frozen=True)
class Layout:
    """Which metering points (ids 1..) each round's messages name: per round, a block of
    the large add message's, the small one's, then the mixed message's adds, removals and
    updates (the last two with a contract of the party). End users own consecutive
    ``per_end_user`` of them."""

    large: int
    small: int
    rounds: int
    per_end_user: int

    @property
    def mixed_removes(self) -> int:
        return self.large // 3

    @property
    def mixed_updates(self) -> int:
        return self.large // 3

    @property
    def mixed_adds(self) -> int:
        return self.large - self.mixed_removes - self.mixed_updates

    @property
    def block(self) -> int:
        return 2 * self.large + self.small

    @property
    def points(self) -> int:
        return self.rounds * self.block

    @property
    def end_users(self) -> int:
        return -(-self.points // self.per_end_user)

    def end_user(self, point: int) -> int:
        return (point - 1) // self.per_end_user + 1

    def ranges(self, number: int) -> dict[str, range]:
        start = 1 + number * self.block
        sizes = {"adds": self.large, "adds-small": self.small, "mixed-add": self.mixed_adds,
                 "mixed-remove": self.mixed_removes, "mixed-update": self.mixed_updates}
        found = {}
        for name, size in sizes.items():
            found[name] = range(start, start + size)
            start += size
        return found

    def contracted(self) -> list[int]:
        """Metering points the party holds a contract on: the mixed messages' removals and
        updates, every round."""
        return [point for number in range(self.rounds)
                for name in ("mixed-remove", "mixed-update")
                for point in self.ranges(number)[name]]


@dataclass(frozen=True)
class Message:
    """One message 34 ready to send, and what its acknowledgement must say: per item in
    order, its GSRN, None (accepted) or the code, and whether it is an add."""

    body: bytes
    gsrns: list[str]
    expected: list[str | None]
    adds: list[bool]


@dataclass
class Case:
    """One kind of message and its timed sends."""

    key: str
    label: str
    items: int
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    load_1m: list[float] = field(default_factory=list)

    def median(self) -> float:
        return round(statistics.median(self.wall_ms), 1)

    def p90(self) -> float:
        return round(statistics.quantiles(self.wall_ms, n=10, method="inclusive")[8], 1)

    def cpu(self) -> float:
        return round(statistics.fmean(self.cpu_ms), 1)

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "items": self.items, "ms_median": self.median(),
                "ms_p90": self.p90(), "cpu_ms_per_message_mean": self.cpu(),
                "ms": [round(ms, 1) for ms in self.wall_ms],
                "cpu_ms": [round(ms, 1) for ms in self.cpu_ms],
                "load_1m": [round(load, 2) for load in self.load_1m]}


@dataclass
class Outcome:
    kind: str
    layout: Layout
    cases: dict[str, Case]
    load_seconds: float
    contracts: int
    peak_rss_mb: float = 0.0
    checked: dict[str, int] = field(default_factory=dict)


def _cases(layout: Layout) -> dict[str, Case]:
    return {
        "adds": Case("adds", f"{layout.large:,} adds", layout.large),
        "adds-small": Case("adds-small", f"{layout.small:,} adds", layout.small),
        "mixed": Case("mixed", f"{layout.large:,} mixed ({layout.mixed_adds:,} add, "
                               f"{layout.mixed_removes:,} remove, {layout.mixed_updates:,} "
                               "update)", layout.large),
        "pending": Case("pending", f"{layout.large:,} adds already pending (EH098)",
                        layout.large),
    }


def load(url: str, secret_key: str, layout: Layout) -> tuple[NewCredentials, int]:
    """Migrate, one third party, and the layout's end users, metering points, supply
    periods and the party's contracts, set-based. Returns the party and the contracts."""
    database = hub.migrate(url, secret_key)
    try:
        credentials = hub.add_parties(database, secret_key, 1)[0]
        party_id = credentials.party.id
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        contracted = layout.contracted()
        with database.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET session_replication_role = replica")
            else:  # the unique index on national_id_hash takes rows out of order
                conn.exec_driver_sql("PRAGMA cache_size = -1000000")
            people = ids.synthetic_fodselsnummer()
            cipher = hub.id_cipher(secret_key)
            write_rows(conn, "end_users", ("id", *hub.SEALED_ID_COLUMNS, "kind"),
                       ((i, *hub.sealed_id(cipher, next(people)), "person-no")
                        for i in range(1, layout.end_users + 1)))
            write_rows(conn, "metering_points",
                       ("id", "gsrn", "settlement_point", "address", "postcode", "city",
                        "grid_area", "extended_storage"),
                       ((i, ids.gsrn(i), True, f"Storgata {i % 997 + 1}", f"{i % 9000 + 1000}",
                         "Oslo", f"NO{i % 5 + 1}", False) for i in range(1, layout.points + 1)))
            write_rows(conn, "supply_periods",
                       ("id", "metering_point_id", "end_user_id", "move_in"),
                       ((i, i, layout.end_user(i), MOVE_IN) for i in range(1, layout.points + 1)))
            write_rows(conn, "grants",
                       ("id", "party_id", "metering_point_id", "end_user_id", "scope",
                        "valid_from", "created_at"),
                       ((n + 1, party_id, point, layout.end_user(point), "Full", CONTRACT_FROM,
                         now) for n, point in enumerate(contracted)))
            if conn.dialect.name == "postgresql":
                for table in ("end_users", "metering_points", "supply_periods", "grants"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))")
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)" if conn.dialect.name == "postgresql"
                                 else "PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        database.dispose()
    return credentials, len(contracted)


def _message(items: list[tuple[int, str]], expected: str | None, rng: random.Random) -> Message:
    """A message of (metering point, action) items in shuffled order, a fresh messageId."""
    items = list(items)
    rng.shuffle(items)
    gsrns = [ids.gsrn(point) for point, _ in items]
    body = [{"meteringPointId": gsrn, "action": action,
             **({"end": UPDATED_END} if action == "update" else {})}
            for gsrn, (_, action) in zip(gsrns, items, strict=True)]
    return Message(json.dumps({"messageId": str(uuid.uuid4()), "items": body}).encode(),
                   gsrns, [expected] * len(items), [action == "add" for _, action in items])


def messages(layout: Layout, number: int) -> dict[str, Message]:
    """The round's four messages (each built before it is timed)."""
    rng = random.Random(number)
    mine, first = layout.ranges(number), layout.ranges(0)
    return {
        "adds": _message([(p, "add") for p in mine["adds"]], None, rng),
        "adds-small": _message([(p, "add") for p in mine["adds-small"]], None, rng),
        "mixed": _message([*((p, "add") for p in mine["mixed-add"]),
                           *((p, "remove") for p in mine["mixed-remove"]),
                           *((p, "update") for p in mine["mixed-update"])], None, rng),
        # The first round's (a warm-up's) large adds, all still pending.
        "pending": _message([(p, "add") for p in first["adds"]], PENDING, rng),
    }


def _check(reply: httpx.Response, message: Message, what: str) -> None:
    """Every item answered in the order sent, as expected (accepted adds with a requestId)."""
    if reply.status_code != 200:
        raise HarnessError(f"updates: {what} answered {reply.status_code}: {reply.text[:500]}")
    document = reply.json()
    items = document.get("items", [])
    if document.get("documentType") != "37 Acknowledgement" or len(items) != len(message.gsrns):
        raise HarnessError(f"updates: {what}: {len(items)} items acknowledged, "
                           f"{len(message.gsrns)} sent")
    for item, gsrn, expected, add in zip(items, message.gsrns, message.expected, message.adds,
                                         strict=True):
        answered = None if item.get("status") == "accepted" else item.get("code")
        if item.get("meteringPointId") != gsrn or answered != expected or (
                add and expected is None and not item.get("requestId")):
            raise HarnessError(f"updates: {what}: item {item} for {gsrn}, expected "
                               f"{expected or 'accepted'}")


def send(client: httpx.Client, token: str, message: Message, pids: Callable[[], list[int]],
          what: str) -> tuple[float, float]:
    """One POST: wall ms from sending to the acknowledgement read, and the server's CPU ms."""
    request = client.build_request("POST", PATH, content=message.body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    before_pids = pids()
    cpu_before = cpu_seconds(before_pids)
    started = time.perf_counter()
    reply = client.send(request)
    elapsed = 1000 * (time.perf_counter() - started)
    # Backends the server opened meanwhile count in full (they started at 0).
    cpu = 1000 * (cpu_seconds(sorted({*before_pids, *pids()})) - cpu_before)
    _check(reply, message, what)
    return elapsed, cpu


def _final_state(url: str, party_id: int) -> dict[str, int]:
    """What the messages left: pending request items, contracts ended by the party,
    contracts with the updated end."""
    database = Database(url)
    try:
        with database.read() as conn:
            pending = conn.execute(
                select(func.count()).select_from(AccessRequestItem)
                .join(AccessRequest, AccessRequest.id == AccessRequestItem.access_request_id)
                .where(AccessRequest.party_id == party_id,
                       AccessRequestItem.pending_key.is_not(None))).scalar_one()
            requests = conn.execute(
                select(func.count()).select_from(AccessRequest)
                .where(AccessRequest.party_id == party_id)).scalar_one()
            removed = conn.execute(
                select(func.count()).select_from(Grant)
                .where(Grant.party_id == party_id,
                       Grant.ended_reason == EndReason.PARTY_REMOVED.value)).scalar_one()
            updated = conn.execute(
                select(func.count()).select_from(Grant)
                .where(Grant.party_id == party_id,
                       Grant.valid_to == dt.date.fromisoformat(UPDATED_END))).scalar_one()
    finally:
        database.dispose()
    return {"pending_items": int(pending), "requests": int(requests),
            "contracts_removed": int(removed), "contracts_updated": int(updated)}


def _one_backend(context: Context, kind: str) -> Outcome:
    plan = context.plan
    warmup, rounds = plan.updates_warmup, plan.updates_rounds
    if warmup < 1:
        raise HarnessError("updates: the pending (EH098) message needs a warm-up round")
    layout = Layout(plan.updates_large, plan.updates_small, warmup + rounds,
                    plan.updates_points_per_end_user)
    backend = databases.fresh(kind, context.work, "updates")
    server: Server | None = None
    try:
        secret = hub.new_secret_key()
        started = time.perf_counter()
        credentials, contracts = load(backend.url, secret, layout)
        outcome = Outcome(kind, layout, _cases(layout), round(time.perf_counter() - started, 1),
                          contracts)
        log(f"updates {kind}: {layout.points:,} metering points, {layout.end_users:,} end "
            f"users, {contracts:,} contracts loaded in {outcome.load_seconds:.1f} s")
        server = hub.serve(f"updates-{kind}", backend.url, secret, context.work)
        token = hub.access_token(server, credentials, SCOPE)
        serving = server

        def pids() -> list[int]:
            return [serving.worker_pid(), *databases.backend_pids(backend)]

        order = list(outcome.cases)
        with httpx.Client(base_url=server.base_url, timeout=120, trust_env=False) as client:
            for number in range(warmup + rounds):
                sent = messages(layout, number)
                timed = number >= warmup
                # Warm-up: the large adds first (the pending message repeats them); then
                # each message takes each place in the order in turn.
                shift = (number - warmup) % len(order) if timed else 0
                for key in order[shift:] + order[:shift]:
                    case = outcome.cases[key]
                    wall, cpu = send(client, token, sent[key], pids, f"{case.label} on {kind}")
                    if timed:
                        case.wall_ms.append(wall)
                        case.cpu_ms.append(cpu)
                        case.load_1m.append(os.getloadavg()[0])
                if timed:
                    log(f"updates {kind} {number - warmup + 1}/{rounds}: " + ", ".join(
                        f"{case.label} {case.wall_ms[-1]:.0f} ms (CPU {case.cpu_ms[-1]:.0f})"
                        for case in outcome.cases.values()))
        outcome.peak_rss_mb = server.peak_rss_mb()
        outcome.checked = _final_state(backend.url, credentials.party.id)
        _verify(outcome)
        return outcome
    finally:
        if server is not None:
            server.stop()
        databases.drop(backend)


def _verify(outcome: Outcome) -> None:
    """The database holds what the accepted items asked for, no more, no less."""
    layout = outcome.layout
    adds = layout.rounds * (layout.large + layout.small + layout.mixed_adds)
    expected = {"pending_items": adds, "contracts_removed": layout.rounds * layout.mixed_removes,
                "contracts_updated": layout.rounds * layout.mixed_updates}
    found = {name: outcome.checked[name] for name in expected}
    if found != expected:
        raise HarnessError(f"updates {outcome.kind}: the database holds {found}, the accepted "
                           f"items asked for {expected}")


def run(context: Context, findings: Findings) -> None:
    plan = context.plan
    log(f"updates: BRS-NO-622 messages of {plan.updates_large:,} and {plan.updates_small:,} "
        f"items, {plan.updates_warmup} warm-up and {plan.updates_rounds} timed round(s), "
        "SQLite and PostgreSQL")
    outcomes = [_one_backend(context, kind) for kind in ("sqlite", "postgresql")]
    _report(findings, outcomes, plan)


def _report(findings: Findings, outcomes: list[Outcome], plan: Plan) -> None:
    benchmark = f"BRS-NO-622 message, {plan.updates_large:,} items"
    rounds = (f"median of {plan.updates_rounds} round(s) after {plan.updates_warmup} "
              "warm-up(s), the messages interleaved")
    for o in outcomes:
        large, small, mixed = o.cases["adds"], o.cases["adds-small"], o.cases["mixed"]
        cost = ratio(large.median(), small.median())
        findings.figures.append(Figure(
            benchmark,
            f"{o.kind}: cost of {large.items:,} add items against {small.items:,}",
            f"{large.items:,}: median {large.median():,.0f} ms (CPU {large.cpu():,.0f} ms)",
            f"{small.items:,}: median {small.median():,.0f} ms, p90 {small.p90():,.0f} ms "
            f"(CPU {small.cpu():,.0f} ms)",
            f"{cost:.2f} (CPU: {ratio(large.cpu(), small.cpu()):.2f})",
            f"≤ {RATIO_GOAL:g}× (SPEC §12: ≤ {SPEC_RATIO:g}×)", cost <= RATIO_GOAL,
            note=f"{rounds}; wall time of the POST from the client over loopback until the "
                 "acknowledgement is read; CPU = the server worker's (and on PostgreSQL the "
                 "database processes') per message, mean"))
        findings.figures.append(Figure(
            benchmark,
            f"{o.kind}: time to acknowledgement, {large.items:,} add items, all accepted",
            f"median {large.median():,.0f} ms, p90 {large.p90():,.0f} ms "
            f"(server CPU {large.cpu():,.0f} ms/message)",
            goal=f"< {TIME_GOAL_S:g} s (SPEC §12: < {SPEC_TIME_S:g} s)",
            met=large.median() < 1000 * TIME_GOAL_S,
            note=f"{rounds}; each add on a metering point the party never asked for, "
                 f"{plan.updates_points_per_end_user} per end user: one pending request per "
                 "end user"))
        findings.figures.append(Figure(
            benchmark,
            f"{o.kind}: time to acknowledgement, {mixed.label}, all accepted",
            f"median {mixed.median():,.0f} ms, p90 {mixed.p90():,.0f} ms "
            f"(server CPU {mixed.cpu():,.0f} ms/message)",
            f"{large.items:,} adds: median {large.median():,.0f} ms",
            f"{ratio(mixed.median(), large.median()):.2f}",
            f"< {TIME_GOAL_S:g} s (SPEC §12: < {SPEC_TIME_S:g} s)",
            mixed.median() < 1000 * TIME_GOAL_S,
            note=f"{rounds}; removals and updates on the party's live contracts"))
    layout = outcomes[0].layout
    section = Section("BRS-NO-622 messages")
    section.lines += [
        "`consenthub serve --workers 1` on a fresh database per backend; one third party "
        f"with a token of scope `{SCOPE}`. Loaded set-based before the server starts "
        f"(SQLite executemany, PostgreSQL COPY, then VACUUM (ANALYZE)): {layout.points:,} "
        f"metering points (settlement points), {layout.per_end_user} per end user "
        f"({layout.end_users:,} end users), each with a supply period open today (move-in "
        f"{MOVE_IN}); the party holds {outcomes[0].contracts:,} live contracts (from "
        f"{CONTRACT_FROM}), on the metering points the mixed messages remove or update. "
        "Every message names metering points of its own (its items shuffled), so that each "
        "item takes the path it is measured for, and carries a fresh `messageId` (its "
        "acknowledgement is stored too). The party has no webhook, so removals and updates "
        "write no outbox rows.",
        "",
        f"Messages: `{layout.large:,} adds` and `{layout.small:,} adds` (metering points the "
        f"party never asked for: every item accepted, one pending request per end user); "
        f"`mixed`, {layout.mixed_adds:,} add (fresh metering points), {layout.mixed_removes:,} "
        f"remove and {layout.mixed_updates:,} update (end {UPDATED_END}) of the party's "
        f"contracts, all accepted; `already pending`, the warm-up's {layout.large:,} adds "
        "again under a new `messageId`, every item rejected EH098 (the rejection path). "
        f"{plan.updates_warmup} untimed warm-up round(s) of all four, then "
        f"{plan.updates_rounds} rounds in which each takes each place in the order in turn. "
        "Each POST is timed by the harness (httpx, one keep-alive connection on loopback, "
        "body encoded beforehand) from sending it to having read the whole acknowledgement; "
        "the acknowledgement is then checked item by item (GSRN in the order sent, status, "
        "code, an add's `requestId`). CPU is the server worker's (and on PostgreSQL the "
        "database processes') over the POST (the scheduler's ns counts). After the run the "
        "database is checked: the pending request items, ended and changed contracts are "
        "exactly those the accepted items asked for.",
        "",
        "| backend | message | median ms | p90 ms | CPU ms/message (mean) | rounds: ms @ load |",
        "|---|---|---:|---:|---:|---|",
        *(f"| {o.kind} | {c.label} | {c.median():,.0f} | {c.p90():,.0f} | {c.cpu():,.0f} | "
          + ", ".join(f"{ms:,.0f} @ {load:.1f}" for ms, load in zip(c.wall_ms, c.load_1m,
                                                                     strict=True)) + " |"
          for o in outcomes for c in o.cases.values()),
        "",
        *(f"- {o.kind}: data loaded in {o.load_seconds:.1f} s; after the run "
          f"{o.checked['requests']:,} requests with {o.checked['pending_items']:,} pending "
          f"items, {o.checked['contracts_removed']:,} contracts removed and "
          f"{o.checked['contracts_updated']:,} updated, as asked; server worker peak RSS "
          f"{o.peak_rss_mb:.0f} MB (SPEC §12: < {MEMORY_GOAL_MB:.0f} MB under load)."
          for o in outcomes),
    ]
    section.data = {o.kind: {"metering_points": o.layout.points,
                             "end_users": o.layout.end_users, "contracts": o.contracts,
                             "load_seconds": o.load_seconds,
                             "cases": {key: case.as_json() for key, case in o.cases.items()},
                             "final_state": o.checked, "peak_rss_mb": o.peak_rss_mb}
                    for o in outcomes}
    findings.sections.append(section)
