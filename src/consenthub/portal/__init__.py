"""End-user portal ("Min side", SPEC §9): OIDC login and the end user's own pages."""
