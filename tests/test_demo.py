"""`consenthub demo`: a newcomer's first run, end to end, as its own process."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select, update

from consenthub import outbox, registry
from consenthub.config import Settings
from consenthub.demo import DemoError, demo_secret_file, load_demo, reset_demo
from consenthub.mail import Mail, MailFolder
from consenthub.store.database import Database
from consenthub.store.migrate import upgrade
from consenthub.store.tables import Grant, Party
from tests.factories import gln
from tests.harness import ServerProcess, free_port


def newcomer_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("CONSENTHUB_")}


def demo_command(port: int, login_port: int, example_port: int, smtp_port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "consenthub.cli.main",
        "demo",
        "--port",
        str(port),
        "--login-port",
        str(login_port),
        "--example-port",
        str(example_port),
        "--smtp-port",
        str(smtp_port),
        # The consent examples on ports of their own, never the fixed 8002/8003.
        "--data-source-port",
        str(free_port()),
        "--consumer-port",
        str(free_port()),
    ]


def start_demo(
    workdir: Path, port: int, example_port: int, login_port: int = 0, smtp_port: int = 0
) -> tuple[ServerProcess, str]:
    """``consenthub demo`` in ``workdir`` with no CONSENTHUB_ variables, as a newcomer runs
    it: returns once it has printed its banner and answers."""
    demo = ServerProcess(
        demo_command(port, login_port or free_port(), example_port, smtp_port or free_port()),
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env=newcomer_env(),
        cwd=workdir,
        output=subprocess.PIPE,
        start_seconds=60,
    )
    stdout = demo.process.stdout
    assert stdout is not None
    printed = ""
    deadline = time.monotonic() + 60
    while "then read data" not in printed:
        line = stdout.readline()
        if not line and demo.process.poll() is not None:
            raise AssertionError(f"demo exited early: {printed}")
        printed += line
        assert time.monotonic() < deadline, printed
    return demo.wait_ready(), printed


def test_demo_prints_working_credentials_and_serves_data(tmp_path: Path) -> None:
    port, example_port, login_port, smtp_port = free_port(), free_port(), free_port(), free_port()
    process, printed = start_demo(tmp_path, port, example_port, login_port, smtp_port)
    try:
        assert (tmp_path / "consenthub.db").exists()
        curl_line = next(
            line.strip()
            for line in printed.splitlines()
            if line.strip().startswith("curl -s -X POST")
        )
        assert f"http://127.0.0.1:{port}/sts/Token" in curl_line
        args = shlex.split(curl_line)
        form = dict(part.split("=", 1) for part in args[args.index("-d") + 1].split("&"))
        token = httpx.post(args[args.index("POST") + 1], data=form).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        listed = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/metering-points", headers=headers
        ).json()["meteringPoints"]
        assert {item["scope"] for item in listed} == {"Full", "Limited"}
        gsrn = listed[0]["meteringPointId"]
        values = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/metering-points/{gsrn}/values",
            params={
                "from": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 3 * 86400)),
                "to": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400)),
            },
            headers=headers,
        ).json()["values"]
        assert len(values) in (23, 24, 25)
        first_secret = form["client_secret"]
        # The example third party runs beside the hub, as the demo party.
        assert f"http://127.0.0.1:{example_port}" in printed, printed
        assert httpx.get(f"http://127.0.0.1:{example_port}/").status_code == 200
        mail_is_caught_and_listed(tmp_path, printed)
        # The secret is kept beside the database, for the demo's user only.
        kept = tmp_path / "consenthub.db-demo-secret"
        assert kept.stat().st_mode & 0o077 == 0
        assert first_secret in kept.read_text()
        second_demo_leaves_the_running_one_alone(
            tmp_path, [port, login_port, example_port, smtp_port], form
        )
    finally:
        process.stop()
    # Its children (login provider, example app) end with the demo.
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{example_port}/", timeout=1)
        except httpx.TransportError:
            break
        assert time.monotonic() < deadline, "the example app outlived the demo"
        time.sleep(0.2)

    # A second start reuses the data and the kept secret, which still works.
    process, printed = start_demo(tmp_path, port, example_port)
    try:
        secret = re.search(r"client_secret\s+(\S+)", printed)
        assert secret is not None
        assert secret.group(1) == first_secret
        again = httpx.post(f"http://127.0.0.1:{port}/sts/Token", data=form)
        assert again.status_code == 200
    finally:
        process.stop()


def second_demo_leaves_the_running_one_alone(
    workdir: Path, ports: list[int], form: dict[str, str]
) -> None:
    """Started beside a running demo, on the same ports, another exits at once with one
    line naming the port taken, and the running demo's secret still works."""
    second = subprocess.run(
        demo_command(*ports),
        cwd=workdir,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2, second.stderr
    assert second.stdout == ""
    [line] = second.stderr.strip().splitlines()
    assert f"port {ports[0]} on 127.0.0.1 (the hub, --port) is already in use" in line
    token = httpx.post(f"http://127.0.0.1:{ports[0]}/sts/Token", data=form)
    assert token.status_code == 200, token.text


def test_a_taken_port_stops_the_demo_before_it_touches_anything(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        result = subprocess.run(
            demo_command(free_port(), free_port(), free_port(), taken),
            cwd=tmp_path,
            env=newcomer_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"port {taken} on 127.0.0.1 (the SMTP sink, --smtp-port) is already in use" in line
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def demo_settings(workdir: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{workdir / 'consenthub.db'}",
        secret_key_file=workdir / "consenthub.key",
        mail_sink_dir=workdir / "consenthub-mail",
        allow_synthetic_ids=True,
    )


def test_reset_starts_from_the_initial_data(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path)
    database = Database(settings.database_url)
    try:
        upgrade(database)
        first = load_demo(settings, database, example_port=8001)
        # What a demo's visitor changes: a grant ended, a party added, mail caught.
        with database.write() as conn:
            conn.execute(update(Grant).values(valid_to=dt.date(2030, 1, 1)))
        MailFolder(settings.mail_sink_dir).keep(b"Subject: x\r\n\r\nx", now=dt.datetime.now(dt.UTC))
        assert load_demo(settings, database, 8001).client_secret == first.client_secret
        reset_demo(settings, database)
        assert not demo_secret_file(settings).exists()
        assert MailFolder(settings.mail_sink_dir).caught() == []
        again = load_demo(settings, database, 8001)
        assert again.client_secret != first.client_secret
        with database.read() as conn:
            assert conn.execute(select(Grant.valid_to)).scalars().all() == [None, None]
            assert conn.execute(select(func.count()).select_from(Party)).scalar_one() == 3
    finally:
        database.dispose()


def test_reset_refuses_a_database_that_is_not_the_demos(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path)
    database = Database(settings.database_url)
    try:
        upgrade(database)
        load_demo(settings, database, 8001)
        with database.write() as conn:
            registry.add_party(
                conn, b"k" * 32, name="Real Kraft AS", roles=["third_party"], gln=gln(7)
            )
        with pytest.raises(DemoError, match="Real Kraft AS"):
            reset_demo(settings, database)
        with database.read() as conn:
            assert conn.execute(select(func.count()).select_from(Party)).scalar_one() == 4
    finally:
        database.dispose()


def mail_is_caught_and_listed(workdir: Path, printed: str) -> None:
    """Mail the hub sends reaches the demo's SMTP sink, which keeps it beside the database,
    and ``consenthub mail list`` shows it with the link to follow."""
    assert "consenthub mail list" in printed
    assert str(workdir / "consenthub-mail") in printed
    database = Database(f"sqlite:///{workdir / 'consenthub.db'}")
    link = "http://127.0.0.1/minside/requests/1"
    try:
        with database.write() as conn:
            message_id = outbox.enqueue_mail(
                conn,
                Mail(
                    "authorization_request_notice",
                    "kari@example.no",
                    "Kari Nordmann",
                    "nb",
                    {"seller_name": "Demo Strøm AS", "accounting_points": [], "link": link},
                ),
                event_type="mail.authorization_request.notice",
                due_at=dt.datetime.now(dt.UTC),
                now=dt.datetime.now(dt.UTC),
            )
    finally:
        database.dispose()
    deadline = time.monotonic() + 30
    while not MailFolder(workdir / "consenthub-mail").caught():
        assert time.monotonic() < deadline, "the demo's worker sent no mail to its sink"
        time.sleep(0.1)
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONSENTHUB_")}
    listed = subprocess.run(
        [sys.executable, "-m", "consenthub.cli.main", "mail", "list", "--json"],
        cwd=workdir,
        env=env,
        capture_output=True,
        check=True,
    )
    [caught] = orjson.loads(listed.stdout)
    assert caught["message_id"] == message_id
    assert caught["to"] == "Kari Nordmann <kari@example.no>"
    assert caught["subject"] == "Demo Strøm AS ber om tilgang til strømdataene dine"
    assert caught["link"] == link


OFF_MACHINE_URL = re.compile(
    r"""(?:href|src|action)\s*=\s*["']?(?!/|#|https?://127\.0\.0\.1[:/])"""
    r"""([a-z][a-z0-9+.-]*:|//)""",
    re.IGNORECASE,
)
STYLESHEET = re.compile(r"""<link[^>]*rel=["']?stylesheet[^>]*href=["']?([^"' >]+)""")


def test_the_login_providers_pages_load_nothing_from_off_the_machine() -> None:
    """The demo's login page works offline: what it loads is served by the provider itself
    (oidc-provider-mock links Pico CSS from a CDN; the demo serves a stylesheet of its own)."""
    from consenthub.demo import DEMO_PERSONS, start_login_provider

    port = free_port()
    provider = start_login_provider(port)
    issuer = f"http://127.0.0.1:{port}"
    try:
        login = httpx.get(
            f"{issuer}/oauth2/authorize",
            params={
                "client_id": "consenthub",
                "redirect_uri": "http://127.0.0.1:8000/auth/callback",
                "response_type": "code",
                "scope": "openid",
            },
        )
        error = httpx.get(f"{issuer}/oauth2/authorize")
        assert login.status_code == 200
        assert error.status_code == 400
        for page in (login, error):
            assert "cdn" not in page.text.lower()
            assert OFF_MACHINE_URL.search(page.text) is None, page.text
            [stylesheet] = STYLESHEET.findall(page.text)
            served = httpx.get(f"{issuer}{stylesheet}")
            assert served.status_code == 200
            assert served.headers["content-type"].startswith("text/css")
            assert "button" in served.text
        assert all(name in login.text for name in DEMO_PERSONS)
    finally:
        provider.terminate()
        provider.wait(timeout=10)
