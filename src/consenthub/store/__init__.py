"""Storage: tables, migrations and the queries each process needs."""
