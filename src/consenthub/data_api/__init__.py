"""Data API (SPEC §8): the resource server that reads exactly what grants allow."""
