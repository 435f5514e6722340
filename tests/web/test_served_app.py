"""The application as ``consenthub serve`` builds it in each server process."""

from __future__ import annotations

import gc

import pytest

from consenthub import app as composition
from consenthub.config import Settings
from consenthub.store.database import Database


def test_the_served_app_freezes_what_startup_built_out_of_full_collections(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What exists once the app is built lives as long as the process: a full garbage
    collection no longer walks it (``gc.freeze``), so a large message that sets one off
    does not pay for the whole heap."""
    built = composition.create_app(settings, db)
    monkeypatch.setattr(composition, "create_app", lambda: built)
    try:
        assert any(tracked is built for tracked in gc.get_objects())
        assert composition.create_served_app() is built
        # Frozen: in no generation the collector walks.
        assert not any(tracked is built for tracked in gc.get_objects())
    finally:
        gc.unfreeze()
