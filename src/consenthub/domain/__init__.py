"""The pure core: identifiers, rules, error catalog and grant windows. No I/O here."""
