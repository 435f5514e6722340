"""Party registry: third parties, their roles, return addresses and client credentials."""
