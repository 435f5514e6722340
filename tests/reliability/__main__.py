"""``python -m tests.reliability [--quick] [--db sqlite|postgresql|both] [--section NAME]``.

Runs every section of ``tests/reliability/sections/`` on fresh databases and prints one
line of figures per section and backend; exits 1 when any section reports a problem.
PostgreSQL is the server named by ``CONSENTHUB_TEST_POSTGRES_URL`` (as for the tests).
"""

from __future__ import annotations

import argparse
import sys

from tests.reliability.runner import BACKENDS, run_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the bounded CI form of each section")
    parser.add_argument("--db", choices=(*BACKENDS, "both"), default="both")
    parser.add_argument(
        "--section",
        action="append",
        default=[],
        help="run only this section (module name or title); may be repeated",
    )
    args = parser.parse_args(argv)
    backends = BACKENDS if args.db == "both" else (args.db,)
    outcomes = run_all(backends, quick=args.quick, only=args.section)
    if not outcomes:
        print("no section matched", file=sys.stderr)
        return 2
    return 1 if any(outcome.problems for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
