"""The demo's login provider: oidc-provider-mock with its pages styled from the machine.

The mock's pages link Pico CSS from a CDN, so offline its login page is unstyled. Its
Flask app renders every page from ``_base.html`` (``error.html`` stands alone), and Flask
looks a template up in the app's own loader first: the two templates here replace those
two and link ``/static/provider.css``, a small stylesheet of ours for the mock's plain
semantic HTML, served by the app's own static route pointed at the folder here. The mock's
other templates, its endpoints and its user API are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import flask
import jinja2
import oidc_provider_mock

HERE = Path(__file__).resolve().parent


def provider_app(users: Sequence[oidc_provider_mock.User] = ()) -> flask.Flask:
    """oidc-provider-mock's app with ``users`` predefined, its pages styled locally."""
    app: flask.Flask = oidc_provider_mock.app(user_claims=users)
    mock_templates = app.jinja_loader
    app.jinja_loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(HERE / "templates")]
        + ([mock_templates] if mock_templates is not None else [])
    )
    # Flask's app always has its ``/static/<filename>`` route; it serves this folder now.
    app.static_folder = HERE / "static"
    return app
