"""consenthub: consent and third-party access service for data hubs."""

__version__ = "0.1.0"
