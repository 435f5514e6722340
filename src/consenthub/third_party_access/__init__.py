"""URL-initiated third-party access (seed 000, Elhub BRS-NO-624)."""
