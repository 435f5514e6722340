"""Benchmark 1: ``POST /sts/Token`` (client credentials), one worker, against a hello-world
endpoint on the same stack and against django-oauth-toolkit's token endpoint."""

from __future__ import annotations

import secrets
import sys
import urllib.parse
import uuid

from bench import databases, hub, peer, wrk
from bench.loads import Context, HarnessError, Subject, log, measure, serving
from bench.procs import Server, free_port
from bench.results import Figure, Findings, Section, Series, ratio

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
RATIO_HELLO_GOAL = 0.6
# SPEC §12: ≥ 10× django-oauth-toolkit in its fastest configuration; the issue asked ≥ 5×.
RATIO_PEER_GOAL = 10.0
ISSUE_PEER_GOAL = 5.0
# A token request's body, sent to hello-world too so that request parsing costs the same.
HELLO_FORM = urllib.parse.urlencode({"grant_type": "client_credentials",
                                     "client_id": str(uuid.uuid4()),
                                     "client_secret": secrets.token_urlsafe(32)})


def _hello(context: Context) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "bench.hello", "--port", str(port), "--log-level", hub.LOG_LEVEL]
    server = Server("hello", argv, {}, port, context.work / "hello.log", cwd=context.root)
    try:
        server.wait_ready("/healthz")
    except Exception:
        server.stop()
        raise
    return server


def _consenthub(context: Context, kind: str) -> tuple[Server, str, databases.Backend]:
    backend = databases.fresh(kind, context.work, "token")
    key = hub.new_secret_key()
    database = hub.migrate(backend.url, key)
    credentials = hub.add_parties(database, key, 1)[0]
    database.dispose()
    server = hub.serve(f"consenthub-token-{kind}", backend.url, key, context.work)
    try:
        if not hub.access_token(server, credentials):
            raise HarnessError(f"no token from consenthub on {kind}")
    except Exception:
        server.stop()  # not yet in the caller's list of servers to stop
        databases.drop(backend)
        raise
    return server, hub.token_form(credentials), backend


def run(context: Context, findings: Findings) -> None:
    servers: list[Server] = []
    backends: list[databases.Backend] = []
    try:
        log("token: setting up consenthub (SQLite, PostgreSQL), hello-world and the peer")
        subjects = []
        for kind in ("sqlite", "postgresql"):
            server, form, backend = _consenthub(context, kind)
            servers.append(server)
            backends.append(backend)
            subjects.append(Subject(
                Series(f"token_{kind}", f"consenthub POST /sts/Token ({kind})"), server.base_url,
                wrk.write_script(context.work / f"token-{kind}.lua",
                                 [wrk.Request("POST", "/sts/Token", form)], FORM),
                serving(server, backend)))
        hello = _hello(context)
        servers.append(hello)
        subjects.append(Subject(
            Series("hello", "hello-world POST /hello (FastAPI + uvicorn)"), hello.base_url,
            wrk.write_script(context.work / "hello.lua",
                             [wrk.Request("POST", "/hello", HELLO_FORM)], FORM),
            serving(hello)))
        versions = peer.ensure_venv()
        project = peer.create_project(context.work / "peer")
        checked = [peer.check_configuration(project)]
        dot = peer.serve(project, context.work)
        servers.append(dot)
        if "access_token" not in hub.post_form(dot.base_url + peer.TOKEN_PATH,
                                               project.token_form()):
            raise HarnessError("no token from django-oauth-toolkit")
        uses_before = peer.connection_uses(dot)
        subjects.append(Subject(
            Series("peer_dot", "django-oauth-toolkit POST /o/token/ (gunicorn, 1 sync worker)"),
            dot.base_url,
            wrk.write_script(context.work / "peer.lua",
                             [wrk.Request("POST", peer.TOKEN_PATH, project.token_form())], FORM),
            serving(dot)))
        measure(context, subjects, context.plan.token_connections)
        checked.append(peer.check_persistent(dot, uses_before))
        memory = {server.name: server.peak_rss_mb() for server in servers}
    finally:
        for server in servers:
            server.stop()
        for backend in backends:
            databases.drop(backend)
    findings.memory_mb.update(memory)
    _report(findings, {s.series.key: s.series for s in subjects}, versions, checked)


def _report(findings: Findings, series: dict[str, Series], versions: dict[str, str],
            checked: list[str]) -> None:
    token, hello, dot = series["token_sqlite"], series["hello"], series["peer_dot"]
    token_pg = series["token_postgresql"]
    to_hello = ratio(token.rps, hello.rps)
    to_peer = ratio(token.rps, dot.rps)
    to_hello_pg = ratio(token_pg.rps, hello.rps)

    def shown(s: Series) -> str:
        return (f"{s.rps:,.0f} req/s (p50 {s.p50_ms:.2f} ms, p99 {s.p99_ms:.2f} ms; "
                f"CPU {s.cpu_ms_per_request:.2f} ms/req)")

    def by_cpu(subject: Series, baseline: Series) -> str:
        return f"(CPU: {ratio(baseline.cpu_ms_per_request, subject.cpu_ms_per_request):.2f})"

    findings.figures += [
        Figure("Token endpoint, 1 worker", "consenthub /sts/Token on SQLite vs hello-world",
               shown(token), f"hello-world {shown(hello)}",
               f"{to_hello:.2f} {by_cpu(token, hello)}",
               f"≥ {RATIO_HELLO_GOAL:.2f}", to_hello >= RATIO_HELLO_GOAL),
        Figure("Token endpoint, 1 worker", "consenthub /sts/Token on SQLite vs the peer",
               shown(token), f"django-oauth-toolkit {shown(dot)}",
               f"{to_peer:.2f}× {by_cpu(token, dot)}",
               f"≥ {RATIO_PEER_GOAL:.0f}×", to_peer >= RATIO_PEER_GOAL,
               f"goal from SPEC §12 (the issue asked ≥ {ISSUE_PEER_GOAL:.0f}×); the peer in its "
               "fastest configuration (plain secret, persistent DB connection), "
               + "; ".join(checked)),
        Figure("Token endpoint, 1 worker", "consenthub /sts/Token on PostgreSQL vs hello-world",
               shown(token_pg), f"hello-world {shown(hello)}",
               f"{to_hello_pg:.2f} {by_cpu(token_pg, hello)}",
               f"≥ {RATIO_HELLO_GOAL:.2f}", to_hello_pg >= RATIO_HELLO_GOAL,
               "CPU on PostgreSQL includes the database's server processes"),
    ]
    section = Section("Token endpoint")
    section.lines += [
        f"Every load: wrk with {token.connections} connections (SPEC §12's comparison table: "
        "one server worker pinned to one core, wrk on the other, 32 connections).",
        "",
        "| subject | req/s | p50 ms | p99 ms | CPU ms/req | rounds: req/s @ load |",
        "|---|---:|---:|---:|---:|---|",
        *(f"| {s.label} | {s.rps:,.0f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | "
          f"{s.cpu_ms_per_request:.3f} | "
          f"{', '.join(f'{r.rps:,.0f} @ {r.load_1m:.1f}' for r in s.rounds)} |"
          for s in series.values()),
        "",
        "The peer: " + ", ".join(f"{name} {v}" for name, v in versions.items())
        + " in a bench-only virtualenv; " + peer.SETUP + " Fastest configuration "
        + "; ".join(checked) + ".",
        "",
        "Not the same work: consenthub signs an ES256 JWT per token; django-oauth-toolkit "
        "returns a random opaque string. Both write one token row per request.",
        "",
        "Ratios are of req/s (the goals'); \"CPU\" gives the same ratio from CPU time per "
        "request, which other work on the machine barely moves.",
    ]
    section.data = {key: s.as_json() for key, s in series.items()} | {
        "peer_versions": versions, "peer_configuration_checked": checked}
    findings.sections.append(section)
