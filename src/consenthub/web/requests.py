"""The process's shared services, as a request handler reaches them."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from consenthub.services import Services


def services(connection: HTTPConnection) -> Services:
    found: Services = connection.app.state.services
    return found
