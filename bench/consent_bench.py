"""Consent tokens (seed 002, SPEC §12 "consent tokens"): ``POST /sts/Token`` issuing consent
tokens, (a) by exchanging an authorization code (``grant_type=authorization_code``) and
(b) by client credentials with RFC 9396 ``authorization_details``, against the
client-credentials access token on the same server in the same run (goal ≥ 0.5 each).

Codes are single use and live 60 s, so before every load of (a) a fresh set of consents
with code hashes is inserted set-based (access request + consent rows, as accepting
would leave them), and the Lua script takes the next unused code per request; a round
that ran out of codes would answer 400 and the harness would fail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert

from bench import databases, hub, ids, wrk
from bench.loads import Context, HarnessError, Subject, log, serving
from bench.procs import LOAD_CPU, Server, cpu_seconds
from bench.results import Figure, Findings, Section, Series, ratio
from consenthub.registry import add_consent_resource, parse_parameter
from consenthub.registry import store as registry
from consenthub.store.database import Database
from consenthub.store.tables import AccessRequest, Consent, EndUser

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
RATIO_GOAL = 0.5
RESOURCE = "5252_1"
PERIOD = {RESOURCE: {"fraOgMed": "01.01.2026", "tilOgMed": "31.12.2026"}}
END_USERS = 50
# Live consents the fresh-token load picks from at random.
LIVE_CONSENTS = 500
# Codes per load: the client-credentials rate of the warm-up times the load's length,
# with this margin (a consent token costs at least an access token).
CODE_MARGIN = 1.5

_CODE_LUA = """
local codes = {
%(codes)s
}
local headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
local prefix = %(prefix)s
local next_code = 0

function request()
  next_code = next_code + 1
  return wrk.format("POST", "/sts/Token", headers, prefix .. codes[next_code])
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


class Setup:
    """The parties, the resource, the end users and the live consents of the run."""

    def __init__(self, database: Database, secret_key: str) -> None:
        key = secret_key.encode()
        now = dt.datetime.now(dt.UTC)
        with database.write() as conn:
            [self.third_party] = [
                registry.add_party(conn, key, name="Bench party", roles=["third_party"],
                                   gln=ids.gln(900), actor="bench")]
            nav = registry.add_party(conn, key, name="NAV", roles=["data_source"],
                                     orgnr="889640782", actor="bench")
            add_consent_resource(
                conn, code=RESOURCE, data_source=nav.party,
                titles={"nb": "Uføreopplysninger", "nn": "Uføreopplysningar",
                        "en": "Disability data"},
                context_template="NAVN_SELSKAP trenger opplysninger fra NAV.",
                parameters=[parse_parameter("fraOgMed:dd.mm.yyyy:required"),
                            parse_parameter("tilOgMed:dd.mm.yyyy:required")],
                max_duration_days=365, one_time=False, actor="bench")
            self.consumer = registry.add_party(
                conn, key, name="Bench Forsikring AS", roles=["consent_consumer"],
                orgnr="974760673", return_domains=["127.0.0.1"], actor="bench")
            numbers = ids.synthetic_fodselsnummer()
            cipher = hub.id_cipher(secret_key)
            conn.execute(insert(EndUser), [
                {**dict(zip(hub.SEALED_ID_COLUMNS, hub.sealed_id(cipher, next(numbers)),
                            strict=True)), "kind": "person", "name": None}
                for _ in range(END_USERS)])
            self.end_users = [row.id for row in conn.execute(EndUser.__table__.select())]
        self.live = [consent_id for consent_id, _ in self.consents(database, LIVE_CONSENTS, now)]

    def consents(self, database: Database, count: int,
                 now: dt.datetime) -> list[tuple[str, str]]:
        """``count`` accepted consents, each with a fresh code valid 60 s from ``now``, set-based
        (as ``consent.service.answer`` leaves them); returns (consent id, code) pairs."""
        party_id = self.consumer.party.id
        codes = [secrets.token_urlsafe(32) for _ in range(count)]
        request_ids = [str(uuid.uuid4()) for _ in range(count)]
        consent_ids = [str(uuid.uuid4()) for _ in range(count)]
        with database.write() as conn:
            conn.execute(insert(AccessRequest), [
                {"id": request_id, "party_id": party_id, "request_id": str(uuid.uuid4()),
                 "process": "consent", "scope": "Limited", "status": "approved",
                 "end_user_id": self.end_users[n % END_USERS], "deadline": now,
                 "created_at": now, "decided_at": now, "details": {}}
                for n, request_id in enumerate(request_ids)])
            conn.execute(insert(Consent), [
                {"id": consent_ids[n], "access_request_id": request_ids[n], "party_id": party_id,
                 "end_user_id": self.end_users[n % END_USERS], "resources": PERIOD,
                 "purpose": "Bench Forsikring AS trenger opplysninger fra NAV.",
                 "valid_to": now + dt.timedelta(days=30), "one_time": False,
                 "delegated_at": now,
                 "code_hash": hashlib.sha256(code.encode()).hexdigest(),
                 "code_expires_at": now + dt.timedelta(seconds=60)}
                for n, code in enumerate(codes)])
        return list(zip(consent_ids, codes, strict=True))


def _client_form(credentials: registry.NewCredentials, **extra: str) -> str:
    return urllib.parse.urlencode({"client_id": credentials.party.client_id,
                                   "client_secret": credentials.client_secret, **extra})


def code_script(path: Path, credentials: registry.NewCredentials, codes: list[str]) -> Path:
    prefix = _client_form(credentials, grant_type="authorization_code") + "&code="
    rows = ",\n".join(json.dumps(code) for code in codes)
    path.write_text(_CODE_LUA % {"codes": rows, "prefix": json.dumps(prefix),
                                 "mark": wrk._MARK})
    return path


def fresh_form(setup: Setup, consent_id: str) -> str:
    """A fresh-token request for ``consent_id``: client credentials with RFC 9396
    ``authorization_details``."""
    details = json.dumps([{"type": "urn:altinn:consent", "id": consent_id}])
    return _client_form(setup.consumer, grant_type="client_credentials",
                        authorization_details=details)


def _check(server: Server, setup: Setup, database: Database) -> None:
    """One token of each kind, before any load: the harness fails when one is refused."""
    [(consent_id, code)] = setup.consents(database, 1, dt.datetime.now(dt.UTC))
    exchanged = hub.post_form(server.base_url + "/sts/Token", _client_form(
        setup.consumer, grant_type="authorization_code", code=code))
    details = json.dumps([{"type": "urn:altinn:consent", "id": setup.live[0]}])
    fresh = hub.post_form(server.base_url + "/sts/Token", _client_form(
        setup.consumer, grant_type="client_credentials", authorization_details=details))
    if exchanged.get("consent_id") != consent_id or fresh.get("consent_id") != setup.live[0]:
        raise HarnessError("consenthub issued no consent token")


def run(context: Context, findings: Findings) -> None:
    plan = context.plan
    backend = databases.fresh("sqlite", context.work, "consent")
    key = hub.new_secret_key()
    database = hub.migrate(backend.url, key)
    server: Server | None = None
    try:
        log("consent: parties, resource 5252_1, end users, live consents; consenthub serve")
        setup = Setup(database, key)
        server = hub.serve("consenthub-consent-sqlite", backend.url, key, context.work)
        _check(server, setup, database)
        pids = serving(server)
        plain = Subject(
            Series("consent_cc", "client credentials, access token (baseline)"),
            server.base_url,
            wrk.write_script(context.work / "consent-cc.lua", [wrk.Request(
                "POST", "/sts/Token", hub.token_form(setup.third_party))], FORM), pids)
        fresh = Subject(
            Series("consent_fresh", "client credentials + authorization_details"),
            server.base_url,
            wrk.write_script(context.work / "consent-fresh.lua", [
                wrk.Request("POST", "/sts/Token", fresh_form(setup, consent_id))
                for consent_id in setup.live], FORM), pids)
        exchange = Series("consent_code", "authorization code exchange")
        code_lua = context.work / "consent-code.lua"
        rate = {"cc": 0.0}

        def fresh_codes(seconds: float) -> Path:
            count = math.ceil(max(rate["cc"], 500.0) * max(1, round(seconds)) * CODE_MARGIN)
            pairs = setup.consents(database, count, dt.datetime.now(dt.UTC))
            return code_script(code_lua, setup.consumer, [code for _, code in pairs])

        loads: list[tuple[Series, Callable[[float], Path]]] = [
            (plain.series, lambda _: plain.script),
            (fresh.series, lambda _: fresh.script),
            (exchange, fresh_codes),
        ]
        connections = plan.token_connections
        for series, script in loads:
            series.connections = connections
            log(f"warm-up {series.label}")
            warm = wrk.run(context.wrk, server.base_url, script(plan.warmup_seconds),
                           seconds=plan.warmup_seconds, connections=connections, cpu=LOAD_CPU)
            if series is plain.series:
                rate["cc"] = warm.rps
        for number in range(plan.rounds):
            order = loads if number % 2 == 0 else list(reversed(loads))
            for series, script in order:
                prepared = script(plan.seconds)
                cpu_before = cpu_seconds(pids())
                result = wrk.run(context.wrk, server.base_url, prepared, seconds=plan.seconds,
                                 connections=connections, cpu=LOAD_CPU)
                cpu_ms = 1000 * (cpu_seconds(pids()) - cpu_before) / max(1, result.requests)
                if result.non_2xx:
                    raise HarnessError(f"{series.label}: {result.non_2xx} answers were not 2xx")
                series.rounds.append(result)
                series.cpu_ms.append(cpu_ms)
                if series is plain.series:
                    rate["cc"] = max(rate["cc"], result.rps)
                log(f"round {number + 1}/{plan.rounds} {series.label}: {result.rps:.0f} req/s, "
                    f"p50 {result.p50_ms:.2f} ms, CPU {cpu_ms:.3f} ms/request")
        memory = server.peak_rss_mb()
    finally:
        if server is not None:
            server.stop()
        database.dispose()
        databases.drop(backend)
    findings.memory_mb[server.name] = memory
    _report(findings, plain.series, fresh.series, exchange)


def _report(findings: Findings, plain: Series, fresh: Series, exchange: Series) -> None:
    def shown(s: Series) -> str:
        return (f"{s.rps:,.0f} req/s (p50 {s.p50_ms:.2f} ms, p99 {s.p99_ms:.2f} ms; "
                f"CPU {s.cpu_ms_per_request:.2f} ms/req)")

    baseline = f"client credentials {shown(plain)}"
    for subject, what in ((exchange, "code exchange (grant_type=authorization_code)"),
                          (fresh, "client credentials + authorization_details (RFC 9396)")):
        to_plain = ratio(subject.rps, plain.rps)
        by_cpu = ratio(plain.cpu_ms_per_request, subject.cpu_ms_per_request)
        findings.figures.append(Figure(
            "Consent tokens, 1 worker (SQLite)", f"{what} vs client credentials",
            shown(subject), baseline, f"{to_plain:.2f} (CPU: {by_cpu:.2f})",
            f"≥ {RATIO_GOAL:.2f}", to_plain >= RATIO_GOAL,
            "same server, same run, interleaved rounds"))
    section = Section("Consent tokens")
    section.lines += [
        f"One consenthub worker on SQLite; wrk with {plain.connections} connections. Each code "
        "load gets its own fresh codes (inserted set-based just before it), one per request.",
        "",
        "| subject | req/s | p50 ms | p99 ms | CPU ms/req | rounds: req/s @ load |",
        "|---|---:|---:|---:|---:|---|",
        *(f"| {s.label} | {s.rps:,.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | "
          f"{s.cpu_ms_per_request:.3f} | "
          f"{', '.join(f'{r.rps:,.0f} @ {r.load_1m:.1f}' for r in s.rounds)} |"
          for s in (plain, fresh, exchange)),
    ]
    section.data = {s.key: s.as_json() for s in (plain, fresh, exchange)}
    findings.sections.append(section)
