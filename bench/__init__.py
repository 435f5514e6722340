"""consenthub's benchmark harness (issue 4): ``make bench`` and ``make bench-quick``.

Every figure is measured against a baseline in the same run; load comes from a
separate process (``wrk``) on loopback only, pinned to another core than the
server. ``python -m bench --help`` lists the modes.
"""
