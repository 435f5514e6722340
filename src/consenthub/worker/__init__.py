"""``consenthub worker`` (SPEC §10): delivers the outbox and runs the due work."""

from consenthub.worker.runner import RunReport, Worker

__all__ = ["RunReport", "Worker"]
