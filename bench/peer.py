"""The peer: django-oauth-toolkit's client-credentials token endpoint.

Installed into its own bench-only virtualenv (``bench/.venv-peer``), with a
minimal Django project generated here: SQLite in WAL mode with
``synchronous=NORMAL`` (as consenthub's), a persistent connection
(``CONN_MAX_AGE=None``), no middleware, one confidential Application with the
client-credentials grant and a plain stored secret (``hash_client_secret=False``),
served by gunicorn with one sync worker. That is the fastest set-up of it we know, and
SPEC §12's ("plain secret, persistent DB connection"). :func:`check_configuration`
verifies it on every run: the Application's ``hash_client_secret`` and stored secret,
the effective ``CONN_MAX_AGE``, and — through a probe view that counts its calls in a
TEMP table, which lives only as long as its database connection — that the worker
kept one connection from before the load to after it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.loads import HarnessError
from bench.procs import Server, free_port

PACKAGES = ("Django==5.2.19", "django-oauth-toolkit==3.4.1", "gunicorn==27.0.1")
VENV = Path(__file__).parent / ".venv-peer"
TOKEN_PATH = "/o/token/"  # noqa: S105 - a URL path, not a secret
PROBE_PATH = "/bench/connection-uses"
SETUP = ("a generated minimal Django project, SQLite (WAL, synchronous=NORMAL), "
         "CONN_MAX_AGE=None, no middleware, one confidential client-credentials Application "
         "with hash_client_secret=False, gunicorn with 1 sync worker.")

_SETTINGS = '''\
SECRET_KEY = "bench-only-{secret}"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "oauth2_provider"]
MIDDLEWARE = []
ROOT_URLCONF = "peerproj.urls"
USE_TZ = True
DATABASES = {{
    "default": {{
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": {database!r},
        "CONN_MAX_AGE": None,
        "OPTIONS": {{
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }},
    }}
}}
OAUTH2_PROVIDER = {{"ACCESS_TOKEN_EXPIRE_SECONDS": 1800}}
LOGGING = {{"version": 1, "disable_existing_loggers": False, "root": {{"level": "WARNING"}}}}
'''

_URLS = '''\
from django.db import connection
from django.http import HttpResponse
from django.urls import include, path


def connection_uses(request):
    """Calls of this view on the current database connection (a TEMP table dies with it)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bench_uses (n INTEGER)")
        cursor.execute("INSERT INTO bench_uses VALUES (1)")
        cursor.execute("SELECT count(*) FROM bench_uses")
        return HttpResponse(str(cursor.fetchone()[0]))


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("healthz", lambda request: HttpResponse("ok")),
    path("bench/connection-uses", connection_uses),
]
'''

_WSGI = '''\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerproj.settings")
application = get_wsgi_application()
'''

_APPLICATION = '''\
import sys

import django

django.setup()
from oauth2_provider.models import Application

Application.objects.create(
    name="bench", client_id=sys.argv[1], client_secret=sys.argv[2], hash_client_secret=False,
    client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
)
'''


_CHECK = '''\
import json
import sys

import django

django.setup()
from django.conf import settings
from django.db import connection
from oauth2_provider.models import Application

application = Application.objects.get(client_id=sys.argv[1])
print(json.dumps({
    "hash_client_secret": application.hash_client_secret,
    "stored_secret_is_plain": application.client_secret == sys.argv[2],
    "conn_max_age": connection.settings_dict["CONN_MAX_AGE"],
    "configured_conn_max_age": settings.DATABASES["default"]["CONN_MAX_AGE"],
}))
'''


@dataclass(frozen=True)
class PeerProject:
    directory: Path
    client_id: str
    client_secret: str

    def token_form(self) -> str:
        return urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "client_id": self.client_id,
                                       "client_secret": self.client_secret})


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> dict[str, str]:
    """Create or update the peer's virtualenv; returns the installed versions."""
    stamp = VENV / ".bench-packages"
    wanted = "\n".join(PACKAGES)
    if not stamp.exists() or stamp.read_text() != wanted:
        for argv in ([sys.executable, "-m", "venv", "--clear", str(VENV)],
                     [str(_python()), "-m", "pip", "install", "--quiet",
                      "--disable-pip-version-check", *PACKAGES]):
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"cannot set up the peer's virtualenv: {done.stderr[-1500:]}")
        stamp.write_text(wanted)
    return {spec.split("==")[0]: spec.split("==")[1] for spec in PACKAGES}


def _run(project: Path, *argv: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "peerproj.settings",
           "PYTHONPATH": str(project)}
    done = subprocess.run([str(_python()), *argv], env=env, cwd=project,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"peer set-up failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    return done.stdout


def create_project(directory: Path) -> PeerProject:
    """A fresh Django project with a migrated SQLite database and one Application."""
    package = directory / "peerproj"
    package.mkdir(parents=True, exist_ok=True)
    database = directory / "peer.db"
    for leftover in (database, directory / "peer.db-wal", directory / "peer.db-shm"):
        leftover.unlink(missing_ok=True)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(
        _SETTINGS.format(secret=secrets.token_hex(16), database=str(database)))
    (package / "urls.py").write_text(_URLS)
    (package / "wsgi.py").write_text(_WSGI)
    _run(directory, "-m", "django", "migrate", "--verbosity", "0")
    client_id, client_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    _run(directory, "-c", _APPLICATION, client_id, client_secret)
    return PeerProject(directory, client_id, client_secret)


def serve(project: PeerProject, log_dir: Path) -> Server:
    """gunicorn, one sync worker, on a free loopback port."""
    port = free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "peerproj.settings"}
    argv = [str(VENV / "bin" / "gunicorn"), "--workers", "1", "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning", "peerproj.wsgi:application"]
    server = Server("peer-dot", argv, env, port, log_dir / "peer-dot.log", cwd=project.directory)
    try:
        server.wait_ready("/healthz")
    except Exception:
        server.stop()
        raise
    return server


def connection_uses(server: Server) -> int:
    """Calls of the probe view so far on the worker's current database connection."""
    with urllib.request.urlopen(server.base_url + PROBE_PATH, timeout=10) as reply:
        return int(reply.read())


def check_configuration(project: PeerProject) -> str:
    """The peer is in its fastest configuration (SPEC §12), or the harness fails: the
    Application stores its secret in plain (``hash_client_secret=False``) and the database
    connection is persistent (``CONN_MAX_AGE=None``). Returns what was checked."""
    found = json.loads(_run(project.directory, "-c", _CHECK, project.client_id,
                            project.client_secret).strip().splitlines()[-1])
    if (found["hash_client_secret"] is not False or not found["stored_secret_is_plain"]
            or found["conn_max_age"] is not None):
        raise HarnessError(f"the peer is not in its fastest configuration: {found}")
    return ("checked in this run: the Application has hash_client_secret=False and stores the "
            "secret in plain, the effective CONN_MAX_AGE is None (persistent)")


def check_persistent(server: Server, before: int) -> str:
    """After the load: the probe view's count went on from ``before`` on the same connection."""
    after = connection_uses(server)
    if after != before + 1:
        raise HarnessError(f"the peer's database connection was not kept through the load "
                           f"(probe count {before} before, {after} after)")
    return ("the worker's one database connection was the same before and after the load "
            "(a probe view's TEMP-table count went on)")
