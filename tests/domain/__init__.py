"""Tests of the pure domain core (no database, no server)."""
