"""`consenthub demo`: a newcomer's first run, end to end, as its own process."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from consenthub import outbox
from consenthub.mail import Mail, MailFolder
from consenthub.store.database import Database
from tests.harness import ServerProcess, free_port


def start_demo(workdir: Path, port: int, example_port: int) -> tuple[ServerProcess, str]:
    """``consenthub demo`` in ``workdir`` with no CONSENTHUB_ variables, as a newcomer runs
    it: returns once it has printed its banner and answers."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONSENTHUB_")}
    demo = ServerProcess(
        [
            sys.executable,
            "-m",
            "consenthub.cli.main",
            "demo",
            "--port",
            str(port),
            "--login-port",
            str(free_port()),
            "--example-port",
            str(example_port),
            "--smtp-port",
            str(free_port()),
            "--data-source-port",
            str(free_port()),
            "--consumer-port",
            str(free_port()),
        ],
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env=env,
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
    port, example_port = free_port(), free_port()
    process, printed = start_demo(tmp_path, port, example_port)
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

    # A second start reuses the data and rotates the secret: the old one stops working.
    process, printed = start_demo(tmp_path, port, example_port)
    try:
        secret = re.search(r"client_secret\s+(\S+)", printed)
        assert secret is not None
        assert secret.group(1) != first_secret
        old = httpx.post(
            f"http://127.0.0.1:{port}/sts/Token", data=form | {"client_secret": first_secret}
        )
        assert old.status_code == 401
        new = httpx.post(
            f"http://127.0.0.1:{port}/sts/Token", data=form | {"client_secret": secret.group(1)}
        )
        assert new.status_code == 200
    finally:
        process.stop()


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
