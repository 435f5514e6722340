"""Where a server's time goes under load:
``python -m bench.profile token|data|consent|webhooks|updates``.

Starts consenthub on a fresh SQLite database (the data case at the small quick
scale), loads it with wrk, samples the worker with py-spy (``pip install
py-spy`` into .venv) and prints the share of samples per package and the
heaviest functions. Raw stacks land in ``bench/out/profile``.

The consent case samples the server of ``bench/consent_bench.py`` under each of its three
loads in turn (client credentials, client credentials with ``authorization_details``, code
exchange with fresh codes), ``--seconds`` each, and prints a summary per load.

The webhooks case samples ``consenthub worker`` instead, from the commit of the
full run's backlog (one throughput round of ``bench/webhook_bench.py`` on SQLite,
its receiver process and parties) for ``--seconds`` or until it is delivered.

The updates case samples the server while it answers BRS-NO-622 messages of the full
run's size (``bench/updates_bench.py``: 10,000 ``add`` items on fresh metering points,
or ``--message mixed``), ``--messages`` of them one after the other after an untimed
warm-up, on SQLite or ``--backend postgresql`` (the database's own processes are not
sampled: on PostgreSQL their time shows as waits in the driver calls).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench import consent_bench, databases, dataset, hub, updates_bench, webhook_bench, wrk
from bench.loads import Context
from bench.plan import FULL, QUICK
from bench.procs import LOAD_CPU, Server

ROOT = Path(__file__).resolve().parent.parent
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):\d+\)$")
# Leaves where a thread waits rather than works: an idle threadpool worker waiting for a
# job, a thread waiting for a result. Sampled without pausing the process, py-spy's own idle
# filter misses some of them; they are counted apart.
IDLE_LEAVES = {"Condition.wait (<stdlib>/threading)", "Event.wait (<stdlib>/threading)"}
# SQLAlchemy's calls into the DB-API driver; the driver's C time is sampled inside them.
DRIVER_CALLS = ("DefaultDialect.do_execute", "DefaultDialect.do_executemany",
                "DefaultDialect.do_commit", "DefaultDialect.do_rollback",
                "DefaultDialect.do_begin", "CursorFetchStrategy.fetch")


def _package(path: str) -> str:
    """``sqlalchemy``, ``consenthub.token_service``, ``<stdlib>/asyncio``, ..."""
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/src/consenthub/" in path:
        parts = path.split("/src/consenthub/", 1)[1].split("/")
        return "consenthub." + parts[0].removesuffix(".py")
    if "/lib/python3" in path:
        rest = path.split("/lib/python3", 1)[1].split("/", 2)
        return "<stdlib>/" + (rest[1].removesuffix(".py") if len(rest) > 1 else "?")
    return path


def _deepest_own(names: list[str]) -> str:
    """The innermost consenthub frame of a stack: the code that caused the work."""
    return next((name for name in reversed(names) if "(consenthub." in name),
                "(outside consenthub)")


def summarize(raw: Path, top: int = 20) -> str:
    """Shares of samples: by package of the innermost frame, by consenthub function (inclusive),
    database driver time by the consenthub function that asked for it, and self time."""
    total = idle = 0
    leaf_package: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    database: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [m for m in map(_FRAME.match, stack.split(";")) if m]
        names = [f"{m['function']} ({_package(m['file'])})" for m in frames]
        if not names or names[-1] in IDLE_LEAVES:
            idle += count
            continue
        total += count
        leaf_package[_package(frames[-1]["file"])] += count
        own.update(dict.fromkeys({name for name in names if "(consenthub." in name}, count))
        self_time[names[-1]] += count
        # Anywhere in the stack: psycopg's own Python frames (query conversion, pipeline)
        # lie beneath SQLAlchemy's call, sqlite3's C code does not.
        if any(name.startswith(DRIVER_CALLS) for name in names):
            database[_deepest_own(names)] += count
    if not total:
        return "no samples"

    def table(counter: collections.Counter[str]) -> list[str]:
        return [f"  {100 * n / total:5.1f} %  {name}" for name, n in counter.most_common(top)]

    return "\n".join([
        f"{total} samples ({idle} more of waiting threads left out); shares of the {total}:",
        "by package of the innermost Python frame (C code counts to its caller):",
        *table(leaf_package),
        "consenthub functions, inclusive:", *table(own),
        "database driver calls (execute, commit, fetch) by the consenthub function behind them:",
        *table(database),
        "functions, self time:", *table(self_time),
    ])


def _record(server: Server, seconds: int, output: Path, *, gil: bool) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise SystemExit("py-spy is missing: .venv/bin/pip install py-spy")
    return subprocess.Popen([py_spy, "record", "--pid", str(server.worker_pid()), "--duration",
                             str(seconds), "--rate", "250", "--format", "raw", "--full-filenames",
                             "--nonblocking", *(["--gil"] if gil else []), "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _webhooks(out: Path, seconds: int, *, gil: bool) -> tuple[str, Path]:
    """One throughput round of the webhook benchmark, the worker sampled from the commit."""
    context = Context(FULL, ROOT, out, "")
    raw = out / "webhooks.stacks.txt"
    recorders: list[subprocess.Popen[bytes]] = []
    receiver = webhook_bench.ReceiverClient(context)
    backend = databases.fresh_sqlite(out, "webhooks")
    try:
        setup = webhook_bench.set_up(backend.url, receiver, FULL.webhook_parties)
        result, _, _ = webhook_bench.worker_round(
            context, "sqlite", backend, setup, receiver, 0,
            on_idle=lambda worker: recorders.append(_record(worker, seconds, raw, gil=gil)))
        setup.database.dispose()
        for recorder in recorders:
            recorder.wait(timeout=seconds + 60)
    finally:
        receiver.close()
        databases.drop(backend)
    return (f"{result.events:,} events, {result.per_second:,.0f} events/s, "
            f"CPU {result.cpu_ms:.3f} ms/event"), raw


def _updates(out: Path, kind: str, message: str, count: int, *, gil: bool) -> tuple[str, Path]:
    """``count`` messages of the full run's size, sampled from the first to the last answer
    (py-spy stopped with SIGINT once they are answered)."""
    layout = updates_bench.Layout(FULL.updates_large, FULL.updates_small, 1 + count,
                                  FULL.updates_points_per_end_user)
    backend = databases.fresh(kind, out, "updates")
    raw = out / f"updates-{kind}-{message}.stacks.txt"
    server: Server | None = None
    try:
        secret = hub.new_secret_key()
        credentials, _ = updates_bench.load(backend.url, secret, layout)
        server = hub.serve(f"profile-updates-{kind}", backend.url, secret, out)
        token = hub.access_token(server, credentials, updates_bench.SCOPE)
        serving = server

        def pids() -> list[int]:
            return [serving.worker_pid(), *databases.backend_pids(backend)]

        timings = []
        with httpx.Client(base_url=server.base_url, timeout=120, trust_env=False) as client:
            for name, warm in updates_bench.messages(layout, 0).items():
                if name != "pending":
                    updates_bench.send(client, token, warm, pids, f"warm-up {name}")
            sent = [updates_bench.messages(layout, number)[message]
                    for number in range(1, count + 1)]
            recorder = _record(server, 600, raw, gil=gil)
            time.sleep(1.0)  # py-spy attaches
            for number, body in enumerate(sent):
                timings.append(updates_bench.send(client, token, body, pids,
                                                  f"{message} {number + 1}"))
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=60)
    finally:
        if server is not None:
            server.stop()
        databases.drop(backend)
    return (f"{count} × {message} ({FULL.updates_large:,} items) on {kind}: "
            + ", ".join(f"{wall:.0f} ms (CPU {cpu:.0f})" for wall, cpu in timings)), raw


def _consent(out: Path, seconds: int, connections: int, *, gil: bool) -> list[tuple[str, Path]]:
    """The consent benchmark's server under each of its loads, one after the other."""
    backend = databases.fresh_sqlite(out, "consent")
    key = hub.new_secret_key()
    database = hub.migrate(backend.url, key)
    setup = consent_bench.Setup(database, key)
    server = hub.serve("profile-consent", backend.url, key, out)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    results = []
    try:
        loads = {
            "cc": lambda: wrk.write_script(out / "cc.lua", [wrk.Request(
                "POST", "/sts/Token", hub.token_form(setup.third_party))], headers),
            "fresh": lambda: wrk.write_script(out / "fresh.lua", [
                wrk.Request("POST", "/sts/Token", consent_bench.fresh_form(setup, consent_id))
                for consent_id in setup.live], headers),
            # Codes for a rate of up to 5,000 tokens/s: a load that runs out answers 400.
            "code": lambda: consent_bench.code_script(out / "code.lua", setup.consumer, [
                code for _, code in setup.consents(database, 5_000 * seconds,
                                                   dt.datetime.now(dt.UTC))]),
        }
        for name, script in loads.items():
            prepared = script()
            raw = out / f"consent-{name}.stacks.txt"
            recorder = _record(server, seconds, raw, gil=gil)
            result = wrk.run(wrk.ensure_wrk(), server.base_url, prepared, seconds=seconds,
                             connections=connections, cpu=LOAD_CPU)
            recorder.wait(timeout=seconds + 60)
            if result.non_2xx:
                raise SystemExit(f"consent {name}: {result.non_2xx} answers were not 2xx")
            results.append((f"{name}: {result}", raw))
    finally:
        server.stop()
        database.dispose()
        databases.drop(backend)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("case", choices=("token", "data", "consent", "webhooks", "updates"))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int,
                        help="wrk connections (default: the full run's for that benchmark)")
    parser.add_argument("--gil", action="store_true",
                        help="sample only the thread holding the GIL (Python CPU time)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="updates: the database (default sqlite)")
    parser.add_argument("--message", choices=("adds", "mixed"), default="adds",
                        help="updates: which message of the full run to send")
    parser.add_argument("--messages", type=int, default=3,
                        help="updates: how many messages to send while sampling")
    args = parser.parse_args()
    if args.connections is None:
        args.connections = (FULL.token_connections if args.case in ("token", "consent")
                            else FULL.data_connections)
    out = ROOT / "bench" / "out" / "profile"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if args.case == "consent":
        for outcome, raw in _consent(out, args.seconds, args.connections, gil=args.gil):
            summary = summarize(raw)
            summary_path = raw.with_name(raw.name.replace(".stacks.txt", ".summary.txt"))
            summary_path.write_text(summary + "\n")
            print(outcome)
            print(summary)
        return
    if args.case in ("webhooks", "updates"):
        if args.case == "webhooks":
            outcome, raw = _webhooks(out, args.seconds, gil=args.gil)
        else:
            outcome, raw = _updates(out, args.backend, args.message, args.messages, gil=args.gil)
        summary = summarize(raw)
        raw.with_name(raw.name.replace(".stacks.txt", ".summary.txt")).write_text(summary + "\n")
        print(outcome)
        print(summary)
        return
    backend = databases.fresh_sqlite(out, args.case)
    key = hub.new_secret_key()
    if args.case == "token":
        database = hub.migrate(backend.url, key)
        credentials = hub.add_parties(database, key, 1)[0]
        database.dispose()
    else:
        data = dataset.build(backend.url, key, metering_points=QUICK.data_large,
                             grants=QUICK.data_large_grants, parties=QUICK.parties,
                             read_set=QUICK.read_set, read_days=QUICK.read_days)
        credentials = data.reader
    server = hub.serve(f"profile-{args.case}", backend.url, key, out)
    try:
        if args.case == "token":
            requests = [wrk.Request("POST", "/sts/Token", hub.token_form(credentials))]
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        else:
            token = hub.access_token(server, credentials)
            requests = [wrk.Request("GET", f"/api/v1/metering-points/{gsrn}/values"
                                           f"?from={day}&to={day + dt.timedelta(days=1)}")
                        for gsrn in data.read_gsrns for day in data.read_days]
            headers = {"Authorization": f"Bearer {token}"}
        script = wrk.write_script(out / f"{args.case}.lua", requests, headers)
        raw = out / f"{args.case}.stacks.txt"
        recorder = _record(server, args.seconds, raw, gil=args.gil)
        result = wrk.run(wrk.ensure_wrk(), server.base_url, script, seconds=args.seconds,
                         connections=args.connections, cpu=LOAD_CPU)
        recorder.wait(timeout=args.seconds + 60)
    finally:
        server.stop()
        databases.drop(backend)
    summary = summarize(raw)
    (out / f"{args.case}.summary.txt").write_text(summary + "\n")
    print(result)
    print(summary)


if __name__ == "__main__":
    main()
