"""The ``consenthub`` command line (Typer)."""
